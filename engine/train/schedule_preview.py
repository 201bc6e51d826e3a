"""The learning rate a job will use at each update, computed by the job's own schedulers
(engine/train/optim.py) on a stand-in optimizer, for previews before a job exists."""

from __future__ import annotations

from typing import Any

import torch

MAX_UPDATES = 5_000
"""A preview steps the scheduler at most this many times (longer runs are sampled per epoch)."""


def updates_per_epoch(train_images: int, config: Any, world: int = 1) -> int:
    """Return the optimizer updates in one epoch of `train_images` images, as the loop counts
    them (batches per process, then accumulate_steps batches per update)."""
    per_rank = -(-max(1, train_images) // max(1, world))
    batches = -(-per_rank // config.batch_size)
    return max(1, -(-batches // config.accumulate_steps))


def lr_schedule(config: Any, lrs: list[float], per_epoch: int) -> tuple[list[float], list[list[float]]]:
    """Return (epoch positions, the lr of each group at each position) for groups starting at
    `lrs` under config's scheduler and warmup, `per_epoch` updates an epoch; a run longer than
    MAX_UPDATES updates is previewed with fewer updates an epoch (the schedules scale with it)."""
    from engine.train.optim import make_scheduler

    per_epoch = max(1, min(per_epoch, MAX_UPDATES // max(1, config.epochs)))
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    optimizer = torch.optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)],
        lr=lrs[0] if lrs else config.lr,
    )
    scheduler = make_scheduler(optimizer, config, per_epoch)
    total = config.epochs * per_epoch
    xs: list[float] = []
    curves: list[list[float]] = [[] for _ in lrs]
    for update in range(total):
        xs.append(update / per_epoch)
        for curve, group in zip(curves, optimizer.param_groups, strict=True):
            curve.append(float(group["lr"]))
        if scheduler is not None and update + 1 < total:
            optimizer.step()  # no gradients: nothing moves, but torch expects step before the scheduler
            scheduler.step()
    return xs, curves
