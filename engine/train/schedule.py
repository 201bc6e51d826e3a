"""Linear lr warmup in front of the main schedule (torchvision's LinearLR -> SequentialLR)."""

from __future__ import annotations

from typing import Any

import torch


def warmup_steps(config: Any, steps_per_epoch: int) -> int:
    """Return the number of updates the warmup lasts (0: none)."""
    return config.warmup_epochs * steps_per_epoch


def with_warmup(optimizer: torch.optim.Optimizer, main: Any, steps: int, decay: float) -> Any:
    """Return `main` (built already, over the steps after the warmup) preceded by `steps` updates
    of LinearLR from lr x `decay` to lr; `main` None: the warmup alone, then a constant lr."""
    sched = torch.optim.lr_scheduler
    warm = sched.LinearLR(optimizer, start_factor=decay, end_factor=1.0, total_iters=steps)
    if main is None:
        return warm
    return sched.SequentialLR(optimizer, [warm, main], milestones=[steps])
