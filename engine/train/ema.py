"""Model EMA as torchvision's references keep it: torch.optim.swa_utils.AveragedModel with
get_ema_multi_avg_fn, updated every `ema_steps` optimizer updates; checkpoints hold its weights."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class ModelEma:
    """The exponential moving average of a model's parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float, every: int) -> None:
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.averaged.requires_grad_(False)
        self.every = every
        self.updates = 0
        """Optimizer updates seen (the average moves on every `every`-th)."""
        self.skipped = 0
        """Averaging steps left out because the model held a NaN/Inf (never carried into the EMA)."""

    @property
    def module(self) -> nn.Module:
        """The averaged model (what evaluation and the checkpoints use)."""
        return self.averaged.module

    def after_update(self, model: nn.Module, warming_up: bool = False) -> None:
        """Count one optimizer update; average the model in on every `every`-th, if it is finite;
        while `warming_up`, copy it instead (torchvision's train.py restarts the average then)."""
        self.updates += 1
        if self.updates % self.every:
            return
        tensors = [t for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()]
        if tensors and not bool(torch.stack([t.detach().isfinite().all() for t in tensors]).all()):
            self.skipped += 1
            return
        self.averaged.update_parameters(model)
        if warming_up:
            self.averaged.n_averaged.fill_(0)  # the next update copies again

    def state(self) -> dict[str, Any]:
        """Return what a resume needs besides the averaged weights (saved as the model's)."""
        return {
            "n_averaged": self.averaged.n_averaged.clone(),
            "updates": self.updates,
            "skipped": self.skipped,
        }

    def load(self, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Continue from a checkpoint's averaged weights and state()."""
        self.module.load_state_dict(weights)
        self.averaged.n_averaged.copy_(state["n_averaged"])
        self.updates, self.skipped = int(state["updates"]), int(state.get("skipped", 0))


def horizon_warning(decay: float, every: int, updates: int, warmup: int = 0) -> str | None:
    """Return the warning for an EMA the run is too short for (it never moves, or barely moves
    from the starting weights), or None when its horizon fits the run's `updates` (of which the
    first `warmup` only copy the model)."""
    if updates < every:
        return (
            f"warning: the EMA averages every {every} updates (ema_steps) and this run has {updates} "
            "updates: it is never updated, so validation and the checkpoints keep the starting weights; "
            "lower ema_steps"
        )
    horizon, averaged = every / (1.0 - decay), updates - warmup
    if averaged <= 0 or horizon <= averaged:
        return None
    after = " after warmup" if warmup else ""
    return (
        f"warning: the EMA (ema_decay {decay:g} every {every} update(s)) averages over about {horizon:,.0f} "
        f"updates and this run has {averaged}{after}: validation and the checkpoints stay close to the "
        "weights it started from; lower ema_decay or ema_steps"
    )


def describe(decay: float, every: int) -> str:
    """Return the log line that says the job keeps an EMA and where it is used."""
    return (
        f"model EMA: decay {decay:g} every {every} update(s); validation, the best/last "
        "checkpoints (and so eval, predict and export) use the averaged weights"
    )
