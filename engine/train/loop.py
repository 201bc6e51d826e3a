"""The finetuning loop: AMP (precision.py), channels_last, compile, frozen BN in eval, NaN stop, the
head-only fast path."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from engine.edit.freeze import frozen_batchnorm_to_eval
from engine.errors import BadInput
from engine.train.bad_images import BadImages
from engine.train.balance import describe_balance, prepare_balance
from engine.train.checkpoint import checkpoint_name, rng_state, save_checkpoint, set_rng_state
from engine.train.compiled import compile_model
from engine.train.config import TrainConfig
from engine.train.data import Datasets, EpochBatches, Indexed, loader_worker_init
from engine.train.diagnostics import LayerDiagnostics, interval
from engine.train.dist import DistInfo, all_max, all_sum, resolve_device
from engine.train.ema import ModelEma, describe, horizon_warning
from engine.train.events import Events, TrainResult
from engine.train.feature_cache import FeatureCache, HeadOnlyEpochs, in_head
from engine.train.optim import make_optimizer, make_scheduler
from engine.train.params import param_groups
from engine.train.precision import choose_precision
from engine.train.recipe_keys import check_task_keys, config_warnings
from engine.train.stopping import early_stop_message
from engine.train.tasks import Task, task_for


class Trainer(HeadOnlyEpochs):
    """Runs one finetune of `model` on `datasets` as `config` says; see `run`."""

    def __init__(self, model: nn.Module, config: TrainConfig, datasets: Datasets, *,
                 checkpoint_dir: str | Path | None = None, events: Events | None = None,
                 should_stop: Callable[[], bool] = lambda: False,
                 dist: DistInfo | None = None, head: str | None = None,
                 task: Task | None = None) -> None:
        self.config = config
        self.task = task or task_for(model)
        check_task_keys(self.task.name, config)
        self.task.prepare(model, config)
        self.dist = dist or DistInfo()
        self.device = resolve_device(config.device, self.dist)
        self.model = model.to(self.device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ema = ModelEma(self.model, config.ema_decay, config.ema_steps) if config.ema_decay else None
        """The weights' moving average (ema_decay): validation and checkpoints use it."""
        self.datasets = datasets
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.events = events or Events()
        if config.compile:  # after the EMA's copy, which must stay a plain module
            compile_model(self.model, self.device, self.events.log)
        self.should_stop = should_stop
        self.head = head if head is not None else config.head if config.head is not None \
            else self.task.head(model)
        self.num_classes = len(datasets.classes)
        self.precision = choose_precision(config.amp, self.device)
        self.scaler = self.precision.scaler()
        """fp16's GradScaler: it skips an update whose gradients overflowed (None otherwise)."""
        # The recipe's trainable set; gradual unfreeze only ever narrows it for a while.
        self.trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        if not self.trainable:
            raise BadInput("nothing to train: every parameter is frozen",
                           "the recipe freezes the whole model",
                           "unfreeze the head (or more) before launching")
        self.groups = param_groups(self.model, config, self.head)
        self.optimizer = make_optimizer(self.groups, config)
        self.batches = EpochBatches(len(datasets.train), config.batch_size, config.seed,  # type: ignore[arg-type]
                                    self.dist.rank, self.dist.world,
                                    prepare_balance(self.task, config, datasets))
        self.steps_per_epoch = len(self.batches)
        self.updates_per_epoch = -(-self.steps_per_epoch // config.accumulate_steps)
        self.scheduler = make_scheduler(self.optimizer, config, self.updates_per_epoch)
        self._micro = 0
        """Batches whose gradients wait for the next update (accumulate_steps)."""
        self.diagnostics = LayerDiagnostics(self.model, self.groups,
                                            interval(config.diagnostics_every, self.steps_per_epoch))
        self.bad = BadImages(len(datasets.train) + len(datasets.val),  # type: ignore[arg-type]
                             config.max_bad_images)
        self.cache = FeatureCache()
        self.cache_off_reason: str | None = None
        self.epoch = 0
        self.step = 0
        self.partial = self.task.empty_sums()  # the running epoch's sums (loss, ..., seen)
        self.best_val_acc: float | None = None
        self.best_checkpoint: str | None = None
        self.last_val_acc: float | None = None
        self.last_checkpoint: str | None = None
        self.history: list[dict[str, Any]] = []
        self.shown_loss = 0.0
        """The last step's loss as the task shows it (the log's running mean is of these)."""
        self.meaning: dict[str, Any] = {"classes": list(datasets.classes), **datasets.meaning}
        """What the weights mean, saved in every checkpoint: the recipe, class names and the
        preprocessing (input size, mean/std, interpolation); the job runner fills it in."""
        self.before_save: Callable[[], None] = lambda: None
        """Called before each checkpoint is written; the job runner checks its folder there."""
        self._ddp: nn.Module | None = None
        self._ddp_key: frozenset[str] | None = None
        self._loader: DataLoader | None = None
        self._epoch_cached = False
        """Whether the running epoch trains on cached features (then validation does too)."""

    # --- state --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Return everything a resume needs, as tensors and plain types (weights_only-safe)."""
        return {
            "format": 1, "model": (self.ema.module if self.ema else self.model).state_dict(),
            **({"trained_model": self.model.state_dict(), "ema": self.ema.state()} if self.ema else {}),
            **({"scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch, "step": self.step, "partial": list(self.partial),
            "best_val_acc": self.best_val_acc, "best_checkpoint": self.best_checkpoint,
            "last_val_acc": self.last_val_acc, "history": self.history,
            "rng": rng_state(), "config": self.config.to_dict(),
            "classes": list(self.datasets.classes), "head": self.head,
            "bad_images": self.bad.state(),
            "meaning": {**self.meaning, **self.task.model_meaning(self.model), **self._ema_meaning()},
        }

    def _ema_meaning(self) -> dict[str, Any]:
        """Return {"ema": {decay, steps}} when the checkpoint's model is the EMA, else {}."""
        if self.ema is None:
            return {}
        return {"ema": {"decay": float(self.config.ema_decay), "steps": int(self.config.ema_steps)}}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's state (model, optimizer, scheduler, position, RNG)."""
        self.model.load_state_dict(state.get("trained_model", state["model"]))
        if self.ema is not None and state.get("ema"):
            self.ema.load(state["model"], state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step = int(state["epoch"]), int(state.get("step", 0))
        self.partial = list(state.get("partial") or self.task.empty_sums())
        self.bad.load(state.get("bad_images"))
        self.best_val_acc = state.get("best_val_acc")
        self.best_checkpoint = state.get("best_checkpoint")
        self.last_val_acc = state.get("last_val_acc")
        self.history = list(state.get("history") or [])
        self.last_checkpoint = checkpoint_name(self.epoch, self.step)
        if state.get("rng"):
            set_rng_state(state["rng"])

    def save(self) -> Path | None:
        """Write a checkpoint of the current position (rank 0 only); return its path."""
        if self.checkpoint_dir is None or not self.dist.is_main:
            return None
        self.before_save()
        path = save_checkpoint(self.checkpoint_dir, self.state(), self.epoch, self.step,
                               keep_last=self.config.keep_last, best=self.best_checkpoint)
        self.last_checkpoint = path.name
        self.events.checkpoint(path, self.best_checkpoint)
        return path

    # --- pieces -------------------------------------------------------------------------------

    def _autocast(self) -> Any:
        return self.precision.autocast()

    def _to(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.config.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _set_phase(self, epoch: int) -> None:
        """Freeze everything but the head during the first head_epochs epochs (gradual unfreeze)."""
        head_only = epoch < self.config.head_epochs
        for name, param in self.model.named_parameters():
            if name in self.trainable:
                param.requires_grad_(not head_only or in_head(name, self.head))
        if not any(p.requires_grad for p in self.model.parameters()):
            raise BadInput("nothing trains in the head-only epochs",
                           f"the head {self.head!r} is frozen", "unfreeze the head or set head_epochs = 0")

    def _train_module(self) -> nn.Module:
        """Return the module to train: the model, or its DDP wrapper for the current trainable set."""
        if not self.dist.enabled:
            return self.model
        key = frozenset(n for n, p in self.model.named_parameters() if p.requires_grad)
        if self._ddp is None or key != self._ddp_key:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp, self._ddp_key = DDP(self.model, device_ids=ids), key
        return self._ddp

    def _loader_for_train(self) -> DataLoader:
        if self._loader is None:
            workers = self.config.resolved_workers()
            # Its own generator: starting an epoch must not draw from the global RNG, or a
            # resumed run would see different augmentations than an uninterrupted one.
            seeds = torch.Generator().manual_seed(self.config.seed + 7919 * self.dist.rank)
            self._loader = DataLoader(Indexed(self.datasets.train), batch_sampler=self.batches,
                                      num_workers=workers, persistent_workers=workers > 0,
                                      pin_memory=self.device.type == "cuda", generator=seeds,
                                      collate_fn=self.task.collate(),
                                      worker_init_fn=loader_worker_init if workers else None)
        return self._loader

    def close(self) -> None:
        """Shut the DataLoader's worker processes down (they ignore stop signals themselves)."""
        loader, self._loader = self._loader, None
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()

    def _note_bad(self, dataset: Any, y: torch.Tensor, index: Any) -> None:
        """Count and report the unreadable images of a batch (CPU targets; nothing to sync)."""
        new = self.bad.record(dataset, y, index)
        if new:
            self.events.bad_images(self.bad.count, self.bad.examples(), new)

    # --- epochs -------------------------------------------------------------------------------

    def _optimizer_step(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor,
                        sums: list[float]) -> tuple[bool, bool]:
        """One batch (an update after accumulate_steps of them, or at the epoch's end); add to
        sums; return (stop asked, loss or gradient norm not finite) as agreed by every rank.

        The check comes before the update, so a NaN/Inf loss never reaches the weights.
        """
        with self._autocast():
            loss, figures = self.task.train_step(module, x, y)
        accumulate = self.config.accumulate_steps
        if self._micro == 0:
            self.optimizer.zero_grad(set_to_none=True)
        scaled = loss / accumulate if accumulate > 1 else loss
        (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        value, *numbers = torch.cat([loss.detach().reshape(1).float(), figures.float()]).tolist()
        finite = math.isfinite(value)
        stop, bad = all_max([float(self.should_stop()), float(not finite)], self.device,
                            self.dist)
        if not bad:
            self._micro += 1
            self.shown_loss = self.task.accumulate(sums, value, numbers)
            if self._micro == accumulate or self.step + 1 == self.steps_per_epoch:
                bad = not self._update(module)
        return bool(stop), bool(bad)

    def _update(self, module: nn.Module) -> bool:
        """Clip the gradients as config says and step; return False (no update) when their norm
        is not finite (fp16's scaler skips such an update instead and training goes on)."""
        self._micro = 0
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.clip_grad_norm:
            grads = [p for p in module.parameters() if p.grad is not None]
            norm = float(torch.nn.utils.clip_grad_norm_(grads, self.config.clip_grad_norm))
            if self.scaler is None and all_max([float(not math.isfinite(norm))], self.device, self.dist)[0]:
                return False
        measure = self.dist.is_main and self.diagnostics.due(self.step + 1)
        if measure:
            self.diagnostics.before_step()
        if self.scaler is not None:
            if not self._scaled_step():
                return True
        else:
            self.optimizer.step()
        if self.ema is not None:
            self.ema.after_update(self.model, warming_up=self.epoch < self.config.warmup_epochs)
        if measure:
            self.events.layers(self.diagnostics.after_step(self.epoch, self.step + 1))
        if self.scheduler is not None:
            self.scheduler.step()
        return True

    def _scaled_step(self) -> bool:
        """Step through fp16's GradScaler; return False (and log it) when it skipped the update."""
        assert self.scaler is not None
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scaler.get_scale() >= scale:
            return True
        where = f"epoch {self.epoch + 1} step {self.step + 1}"
        self.events.log(f"fp16: the gradients overflowed at {where}; the GradScaler skipped this "
                        f"update and lowered its scale to {self.scaler.get_scale():g}")
        return False

    def _train_epoch(self) -> str | None:
        """Train the current epoch from self.step; return "stopped"/"nan" or None when done."""
        use_cache = self._epoch_cached = self._use_cache()
        module = self.model.get_submodule(self.head) if use_cache else self._train_module()
        self.model.train()
        if self.config.freeze_bn:
            frozen_batchnorm_to_eval(self.model)
        self.batches.set_epoch(self.epoch, self.step)
        if use_cache:
            assert self.cache.train is not None
            targets = self._targets(self.datasets.train)
            source: Any = ((self.cache.train[idx], targets[idx], None)
                           for idx in (torch.tensor(b, device=self.device) for b in self.batches))
        else:
            source = self._loader_for_train()
        sums = self.partial
        window: list[float] = []
        stop_asked = False
        for x, y, index in source:
            if not use_cache:
                self._note_bad(self.datasets.train, self.task.unreadable(y), index)
                if not self.dist.enabled and self.bad.too_many():
                    return "bad data"
            x, y = self.task.to_device(self, x, y)
            stop, bad = self._optimizer_step(module, x, y, sums)
            if bad:
                return "nan"
            self.step += 1
            self.events.progress(self.epoch, self.step, self.steps_per_epoch)
            window.append(self.shown_loss)
            if self.step % self.config.log_every == 0 or self.step == self.steps_per_epoch:
                self.events.step(self.epoch, self.step, self.steps_per_epoch,
                                 sum(window) / len(window))
                window.clear()
            stop_asked = stop_asked or stop
            if stop_asked and self._micro == 0:  # a checkpoint holds no half-accumulated update
                return "stopped"
        return None

    def evaluate(self) -> dict[str, Any]:
        """Return the task's validation metrics (val_loss, val_acc: its score in %, ...) of the
        weights the checkpoints keep (the EMA's when there is one)."""
        trained = self.model
        self.model = self.ema.module if self.ema is not None else trained
        try:
            self.model.eval()
            return self.task.evaluate(self)
        finally:
            self.model = trained

    def run(self, resume: dict[str, Any] | None = None) -> TrainResult:
        """Train to config.epochs (from `resume` when given); return how it ended."""
        torch.manual_seed(self.config.seed)
        self.events.log(self.precision.describe())
        if resume is not None:
            self.load_state(resume)
            self.events.log(f"resumed at epoch {self.epoch} step {self.step}")
        else:
            self.task.check_model(self)
            self.events.start(self.config.to_dict())
            for line in config_warnings(self.config):
                self.events.log(line)
            if self.ema is not None:
                self.events.log(describe(self.config.ema_decay, self.config.ema_steps))
                updates = self.updates_per_epoch * self.config.epochs
                warmup = self.updates_per_epoch * self.config.warmup_epochs
                short = horizon_warning(self.config.ema_decay, self.config.ema_steps, updates, warmup)
                if short:
                    self.events.log(short)
            if self.config.class_balance != "none":
                self.events.log(describe_balance(self.config, self.datasets))
            self.save()
        epochs = self.config.epochs
        while self.epoch < epochs:
            self._set_phase(self.epoch)
            started = time.perf_counter()
            ended = self._train_epoch()
            if ended == "nan":
                good = self.last_checkpoint or "none"
                message = (f"the loss (or its gradient norm) became NaN/Inf at epoch {self.epoch + 1} step "
                           f"{self.step + 1}; stopped; the last good checkpoint is {good}; a smaller lr "
                           "usually helps (ptm-tui lr-find suggests one)"
                           + ('; in fp16 an overflowing forward pass does this too: try amp = "bf16"'
                              if self.precision.name == "fp16" else ""))
                self.events.log(message)
                return self._result("failed", message)
            if ended == "bad data" or self._too_many_bad():
                message = str(self.bad.too_many() or "another process met too many unreadable "
                              "images (see its log)")
                self.events.log(message)
                return self._result("failed", message)
            if ended == "stopped":
                self.save()
                message = (f"stopped in epoch {self.epoch + 1}/{epochs} after step {self.step}/"
                           f"{self.steps_per_epoch}; checkpoint saved ({self.last_checkpoint})")
                self.events.log(message)
                return self._result("stopped", message)
            train_sums = all_sum(self.partial, self.device, self.dist)
            metrics = self.evaluate()
            val_acc = metrics["val_acc"]
            self.epoch, self.step, self.partial = self.epoch + 1, 0, self.task.empty_sums()
            optimizer_groups = self.optimizer.param_groups
            record = {"epoch": self.epoch, **self.task.train_record(train_sums), **metrics,
                      "lr": self.optimizer.param_groups[0]["lr"],
                      "lr_groups": {g.name: o["lr"] for g, o in zip(self.groups, optimizer_groups)},
                      "images_per_s": round(train_sums[-1] / max(time.perf_counter() - started, 1e-9), 1),
                      "seconds": round(time.perf_counter() - started, 3)}
            if self.task.name != "classification":
                record["score"] = self.task.score_name
            if not math.isfinite(metrics["val_loss"] if metrics["val_loss"] is not None else val_acc):
                message = (f"the validation loss became NaN/Inf at epoch {self.epoch}; stopped; "
                           f"the last good checkpoint is {self.last_checkpoint or 'none'}")
                self.events.log(message)
                self.epoch -= 1
                return self._result("failed", message)
            self.last_val_acc = val_acc
            if self.best_val_acc is None or val_acc > self.best_val_acc:
                self.best_val_acc = val_acc
                self.best_checkpoint = checkpoint_name(self.epoch)
            record["best_val_acc"] = self.best_val_acc
            self.history.append(record)
            self.events.epoch(record)
            self.save()
            early = early_stop_message(self.history, self.best_val_acc, self.config.early_stopping)
            if early:
                self.events.log(early)
                return self._result("done", early)
            if self._stop_agreed():
                return self._result("stopped", f"stopped after epoch {self.epoch}/{epochs}; checkpoint "
                                    f"saved ({self.last_checkpoint})")
        return self._result("done", f"finished {epochs} epochs")

    def _too_many_bad(self) -> bool:
        """Return True when any rank has met more unreadable images than allowed."""
        return bool(all_max([float(bool(self.bad.too_many()))], self.device, self.dist)[0])

    def _stop_agreed(self) -> bool:
        """Return True when any rank was asked to stop (only rank 0 gets the signal under DDP).

        Every rank must take the same branch, or the ones that go on hang in their next
        collective while the others have left.
        """
        return bool(all_max([float(self.should_stop())], self.device, self.dist)[0])

    def _result(self, status: str, message: str) -> TrainResult:
        return TrainResult(status, self.epoch, self.config.epochs, self.best_val_acc,
                           self.last_val_acc, self.last_checkpoint, self.best_checkpoint, message,
                           list(self.history))


def train(model: nn.Module, config: TrainConfig, datasets: Datasets, **kwargs: Any) -> TrainResult:
    """Finetune `model` on `datasets` as `config` says and return the result (see Trainer)."""
    resume = kwargs.pop("resume", None)
    return Trainer(model, config, datasets, **kwargs).run(resume)
