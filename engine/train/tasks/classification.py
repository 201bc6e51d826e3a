"""Image classification: an ImageFolder, cross-entropy, accuracy; the head-only fast path."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from engine.errors import BadInput
from engine.train.augment import batch_mixer, mix_batch
from engine.train.config import TrainConfig
from engine.train.csv_data import is_csv
from engine.train.data import (
    UNREADABLE,
    Datasets,
    Indexed,
    build_datasets,
    check_data_folder,
    class_names,
    loader_worker_init,
    shard,
)
from engine.train.dist import all_sum
from engine.train.params import find_head
from engine.train.tasks.base import Task


class ClassificationTask(Task):
    """One class per image: a class folder per class, cross-entropy, top-1 accuracy."""

    name = "classification"
    score_name = "accuracy"
    data_format = ("an ImageFolder: one sub-folder of images per class (train/ + val/, or val_split), "
                   "or a CSV of path,label rows")
    feature_cache = True

    def __init__(self) -> None:
        self.loss_fn = nn.CrossEntropyLoss(reduction="sum", ignore_index=UNREADABLE)
        """Summed over the readable images of a batch (an unreadable one has the target UNREADABLE)."""
        self.train_loss_fn = self.loss_fn
        """The training loss: loss_fn with the recipe's label smoothing (val_loss stays plain)."""
        self.mixer: Any = None
        """MixUp/CutMix of each training batch (torchvision.transforms.v2), when the recipe asks."""
        self.class_weights: torch.Tensor | None = None
        """The training loss's class weights (class_balance = "weights"), else None."""

    def prepare(self, model: nn.Module, config: TrainConfig) -> None:
        """Smooth the training loss's labels as config.label_smoothing says."""
        self.train_loss_fn = nn.CrossEntropyLoss(reduction="sum", ignore_index=UNREADABLE,
                                                 label_smoothing=config.label_smoothing)
        self.mixer = batch_mixer(config)
        self.class_weights = None

    def weigh_classes(self, weights: torch.Tensor) -> None:
        """Weigh each class's cross-entropy in the training loss (class_balance = "weights")."""
        self.class_weights = weights
        self.train_loss_fn = nn.CrossEntropyLoss(weight=weights, reduction="sum", ignore_index=UNREADABLE,
                                                 label_smoothing=self.train_loss_fn.label_smoothing)

    def check_data(self, config: TrainConfig) -> dict[str, Any]:
        """Refuse a folder that is not an ImageFolder; return its class names."""
        check_data_folder(config)
        classes = class_names(config)
        return {"format": "CSV" if is_csv(config.data) else "ImageFolder", "classes": classes}

    def check_head(self, model: nn.Module, found: dict[str, Any]) -> None:
        """Refuse a model whose outputs per image (run on meta tensors at found["input_size"])
        differ from the number of class folders: the job would fail when it starts."""
        from engine.edit.shapecheck import check_forward
        from engine.errors import PtmError

        try:
            shape = check_forward(model, found.get("input_size"))
        except PtmError:  # shapes break at that size: the job says so itself
            return
        out = shape.output_shape
        outputs = out[1] if shape.ok and out is not None and len(out) == 2 else None
        classes = found["classes"]
        if outputs is None or outputs == len(classes):
            return
        head = find_head(model)
        shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
        raise BadInput(
            f"the model{f' (head {head})' if head else ''} gives {outputs} outputs per "
            f"image but the data has {len(classes)} classes ({shown})",
            "a classifier needs one output per class folder; the job would fail when it starts",
            f"give it a {len(classes)}-class head: H in the explorer, or an edit "
            f'op = "replace_head" with num_classes = {len(classes)} in the recipe',
        )

    def build_datasets(self, config: TrainConfig, meta: dict[str, Any] | None, channels: int = 3) -> Datasets:
        """Return the ImageFolder datasets (see engine.train.data.build_datasets)."""
        return build_datasets(config, meta, channels)

    def head(self, model: nn.Module) -> str:
        """Return the classifier head's path."""
        return find_head(model)

    def check_model(self, trainer: Any) -> None:
        """Refuse early when the head's outputs and the data's classes disagree."""
        model, datasets = trainer.model, trainer.datasets
        x, _ = datasets.val[0]
        was_training = model.training
        model.eval()
        with torch.no_grad(), trainer._autocast():
            out = model(trainer._to(x.unsqueeze(0)))
        model.train(was_training)
        classes = len(datasets.classes)
        if out.ndim != 2 or out.shape[1] != classes:
            raise BadInput(
                f"the model gives {tuple(out.shape[1:])} outputs per image but the data "
                f"has {classes} classes",
                "the head must have one output per class folder",
                f"add a replace_head edit with num_classes = {classes}",
            )

    def unreadable(self, targets: Any) -> torch.Tensor:
        """The targets themselves: an unreadable image already has the target UNREADABLE."""
        return targets

    def to_device(self, trainer: Any, x: Any, y: Any) -> tuple[Any, Any]:
        """Move images (channels_last when asked) and targets to the device; mix the batch
        (MixUp/CutMix: probability targets) when the recipe asks."""
        x, y = trainer._to(x), y.to(trainer.device, non_blocking=True)
        if self.mixer is not None:
            return mix_batch(self.mixer, x, y, trainer.num_classes, UNREADABLE)
        return x, y

    def train_step(self, module: nn.Module, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean cross-entropy over readable images and (correct, readable); mixed
        targets (probabilities) count a hit where the largest share is predicted."""
        logits = module(x)
        readable = torch.tensor(y.shape[0], device=y.device) if y.ndim == 2 else (y != UNREADABLE).sum()
        if self.class_weights is not None:
            self.train_loss_fn.to(logits.device)  # its weight buffer follows the model
        loss = self.train_loss_fn(logits.float(), y) / self._loss_divisor(y, readable)
        hard = y.argmax(1) if y.ndim == 2 else y
        correct = (logits.detach().argmax(1) == hard).sum()
        return loss, torch.stack([correct.float(), readable.float()])

    def _loss_divisor(self, y: torch.Tensor, readable: torch.Tensor) -> torch.Tensor:
        """Return what the summed loss is divided by: the readable images, or with class weights
        and hard targets their weights' sum (CrossEntropyLoss(weight=...)'s mean)."""
        weights = self.class_weights
        if weights is None or y.ndim == 2:
            return readable.clamp(min=1)
        weights = weights.to(y.device)
        return weights[y[y != UNREADABLE]].sum().clamp(min=1e-12)

    def empty_sums(self) -> list[float]:
        """loss sum, correct, seen."""
        return [0.0, 0.0, 0.0]

    def accumulate(self, sums: list[float], loss: float, figures: list[float]) -> float:
        """Add the step's loss (weighted by its readable images), hits and images."""
        hits, seen = figures
        sums[0] += loss * seen
        sums[1] += hits
        sums[2] += seen
        return loss if seen else 0.0

    def train_record(self, sums: list[float]) -> dict[str, float]:
        """Mean loss and accuracy (%) of the epoch."""
        seen = max(1.0, sums[2])
        return {"train_loss": sums[0] / seen, "train_acc": 100.0 * sums[1] / seen}

    @torch.no_grad()
    def evaluate(self, trainer: Any) -> dict[str, Any]:
        """Return val_loss and val_acc (%) over the validation set (cached features when cached)."""
        total = [0.0, 0.0, 0.0]
        model = trainer.model
        if trainer._epoch_cached and trainer.cache.val is not None:
            head = model.get_submodule(trainer.head)
            targets = trainer._targets(trainer.datasets.val)
            size = max(trainer.config.batch_size, 256)
            for start in range(0, len(targets), size):
                x, y = trainer.cache.val[start : start + size], targets[start : start + size]
                with trainer._autocast():
                    logits = head(x)
                self._add(total, logits, y)
        else:
            val = trainer.datasets.val
            indices = shard(range(len(val)), trainer.dist.rank, trainer.dist.world)
            subset = torch.utils.data.Subset(val, indices)
            workers = trainer.config.resolved_workers()
            loader = DataLoader(
                Indexed(subset),
                batch_size=max(trainer.config.batch_size, 64),
                num_workers=workers,
                worker_init_fn=loader_worker_init if workers else None,
            )
            for x, y, index in loader:
                trainer._note_bad(subset, y, index)
                x, y = trainer._to(x), y.to(trainer.device)
                with trainer._autocast():
                    logits = model(x)
                self._add(total, logits, y)
        total = all_sum(total, trainer.device, trainer.dist)
        seen = max(1.0, total[2])
        return {"val_loss": total[0] / seen, "val_acc": 100.0 * total[1] / seen}

    def _add(self, total: list[float], logits: torch.Tensor, y: torch.Tensor) -> None:
        total[0] += float(self.loss_fn(logits.float(), y))
        total[1] += float((logits.argmax(1) == y).sum())
        total[2] += float((y != UNREADABLE).sum())
