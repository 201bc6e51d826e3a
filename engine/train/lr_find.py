"""The learning-rate range test: train a throwaway copy with an exponentially growing lr and
suggest the lr where the smoothed loss falls fastest (Smith 2015; fastai's and Lightning's lr_find).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from engine.errors import BadInput
from engine.train.config import TrainConfig
from engine.train.data import Datasets
from engine.train.optim import make_optimizer
from engine.train.params import head_of, param_groups
from engine.train.precision import choose_precision

SMOOTHING = 0.98
"""Weight of the running loss in the exponential moving average (fastai's beta)."""
DIVERGE_FACTOR = 4.0
"""The test stops once the smoothed loss exceeds this multiple of its best value."""
SKIP_START = 0.1
"""Share of the first points left out of the suggestion (the noisy start of the curve)."""


@dataclass
class LrFindResult:
    """The range test's curve and its suggestion."""

    lrs: list[float]
    losses: list[float]
    """The smoothed (bias-corrected) loss at each lr."""
    raw_losses: list[float]
    suggestion: float | None
    """The lr of the steepest descent of the smoothed loss (None when the curve never falls)."""
    min_loss_lr: float | None
    """The lr of the lowest smoothed loss; the "min/10 rule" suggests a tenth of it."""
    stopped: str
    """Why the test ended: "diverged" or "end of range"."""
    seconds: float
    ratios: dict[str, float] = field(default_factory=dict)
    """Each parameter group's lr as a multiple of `lr` (kept throughout the sweep)."""

    @property
    def min_over_10(self) -> float | None:
        """The min/10 rule's lr."""
        return self.min_loss_lr / 10 if self.min_loss_lr is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain data (the CLI's --json)."""
        return {"lrs": self.lrs, "losses": self.losses, "raw_losses": self.raw_losses,
                "suggestion": self.suggestion, "min_loss_lr": self.min_loss_lr,
                "min_over_10": self.min_over_10, "stopped": self.stopped,
                "seconds": round(self.seconds, 3), "ratios": self.ratios}


def check_range(start: float, end: float, steps: int) -> None:
    """Raise BadInput unless 0 < start < end (finite) and 5 <= steps <= 10000."""
    if not (math.isfinite(start) and math.isfinite(end) and 0 < start < end):
        raise BadInput(f"cannot sweep the lr from {start:g} to {end:g}",
                       "the range must be finite with 0 < start < end",
                       "e.g. --start 1e-7 --end 10")
    if not 5 <= steps <= 10000:
        raise BadInput(f"--steps {steps} is out of range", "the curve needs 5 to 10000 points",
                       "e.g. --steps 100")


def lr_schedule(start: float, end: float, steps: int) -> list[float]:
    """Return `steps` learning rates growing exponentially from `start` to `end`."""
    return [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]


def steepest(lrs: list[float], losses: list[float]) -> float | None:
    """Return the lr where the loss falls fastest against log(lr), before the curve's minimum."""
    lowest = min(range(len(losses)), key=losses.__getitem__)
    first = int(len(losses) * SKIP_START)
    best, best_slope = None, 0.0
    for i in range(first, lowest):
        slope = (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        if slope < best_slope:
            best, best_slope = lrs[i], slope
    return best


def _batches(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield batches forever, starting the loader again when it runs out."""
    while True:
        yielded = False
        for x, y in loader:
            yielded = True
            yield x, y
        if not yielded:
            raise BadInput("the training set is empty", "the range test needs batches",
                           "point [train] data at a folder with images")


def classifiers_only(model: nn.Module) -> None:
    """Refuse a model that is not a classifier: the range test sweeps a cross-entropy loss."""
    from engine.train.tasks import task_name_of

    task = task_name_of(model)
    if task != "classification":
        raise BadInput(f"the learning-rate range test runs on classifiers; this model is a "
                       f"{task.replace('_', ' ')} model", "it sweeps the lr on a cross-entropy loss",
                       "set lr by hand (torchvision's references: 0.02 for 16 images per step with SGD, "
                       "scaled with the batch size)")


def find_lr(model: nn.Module, config: TrainConfig, datasets: Datasets, device: torch.device, *,
            start: float = 1e-7, end: float = 10.0, steps: int = 100,
            progress: Callable[[int, int, float, float], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> LrFindResult:
    """Run the range test on `model` (trained in place: pass a copy) and return the curve.

    Each step uses the next batch of the training data; every parameter group's lr is the
    swept lr times the group's ratio to `config.lr` (so head/backbone ratios are kept), with
    the recipe's freezing, optimizer and weight decay. `progress(step, steps, lr, loss)`.
    """
    from engine.edit.freeze import frozen_batchnorm_to_eval

    classifiers_only(model)
    check_range(start, end, steps)
    torch.manual_seed(config.seed)
    model = model.to(device)
    model.train()
    if config.freeze_bn:
        frozen_batchnorm_to_eval(model)
    groups = param_groups(model, config, head_of(model, config))
    if not groups:
        raise BadInput("nothing to train: every parameter is frozen", "the recipe freezes the whole model",
                       "unfreeze the head (or more) before looking for a learning rate")
    optimizer = make_optimizer(groups, config)
    ratios = {g.name: g.lr / config.lr for g in groups}
    loader = DataLoader(datasets.train, batch_size=config.batch_size, shuffle=True,
                        num_workers=config.resolved_workers(), drop_last=False,
                        generator=torch.Generator().manual_seed(config.seed))
    loss_fn = nn.CrossEntropyLoss()
    precision = choose_precision(config.amp, device)
    scaler = precision.scaler()
    lrs, losses, raw = [], [], []
    average, best = 0.0, math.inf
    stopped = "end of range"
    began = time.perf_counter()
    batches = _batches(loader)
    classes = len(datasets.classes)
    for i, lr in enumerate(lr_schedule(start, end, steps)):
        if should_stop():
            stopped = "stopped"
            break
        for group, ratio in zip(optimizer.param_groups, ratios.values()):
            group["lr"] = lr * ratio
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            logits = model(x)
        if logits.ndim != 2 or logits.shape[1] != classes:
            raise BadInput(f"the model gives {tuple(logits.shape[1:])} outputs per image but the data "
                           f"has {classes} classes", "the head must have one output per class folder",
                           f"add a replace_head edit with num_classes = {classes} (H in the explorer)")
        loss = loss_fn(logits.float(), y)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:  # fp16: an overflowing step is skipped, as in training
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        value = float(loss.detach())
        if not math.isfinite(value):
            stopped = "diverged"
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smoothed = average / (1 - SMOOTHING ** (i + 1))
        lrs.append(lr)
        raw.append(value)
        losses.append(smoothed)
        if progress is not None:
            progress(i + 1, steps, lr, smoothed)
        best = min(best, smoothed)
        if i > steps * SKIP_START and smoothed > DIVERGE_FACTOR * best:
            stopped = "diverged"
            break
    if len(losses) < 2:
        raise BadInput("the range test diverged at once",
                       f"the loss was not finite at lr {start:g}",
                       "lower --start, or check the data and the model's head")
    lowest = min(range(len(losses)), key=losses.__getitem__)
    return LrFindResult(lrs=lrs, losses=losses, raw_losses=raw, suggestion=steepest(lrs, losses),
                        min_loss_lr=lrs[lowest], stopped=stopped,
                        seconds=time.perf_counter() - began, ratios=ratios)


def find_lr_for_recipe(recipe: Any, *, start: float = 1e-7, end: float = 10.0, steps: int = 100,
                       overrides: dict[str, Any] | None = None,
                       progress: Callable[[int, int, float, float], None] | None = None,
                       should_stop: Callable[[], bool] = lambda: False) -> LrFindResult:
    """Build the recipe's model (a fresh copy) and data, then run the range test on them."""
    from engine.edit.recipe import build
    from engine.train.config import train_config
    from engine.train.data import build_datasets
    from engine.train.dist import resolve_device
    from engine.use.channels import input_channels

    check_range(start, end, steps)
    config = train_config(recipe.train, overrides, model=recipe.model)
    device = resolve_device(config.device)
    workbench = build(recipe, device="cpu")
    classifiers_only(workbench.model)
    datasets = build_datasets(config, workbench.meta, input_channels(workbench.model))
    return find_lr(workbench.model, config, datasets, device, start=start, end=end, steps=steps,
                   progress=progress, should_stop=should_stop)
