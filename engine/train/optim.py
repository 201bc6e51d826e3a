"""The optimizer and the per-step learning-rate schedule a [train] table names."""

from __future__ import annotations

from typing import Any

import torch

from engine.train.config import TrainConfig
from engine.train.params import ParamGroup
from engine.train.schedule import warmup_steps, with_warmup


def make_optimizer(groups: list[ParamGroup], config: TrainConfig) -> torch.optim.Optimizer:
    """Return the optimizer named in config over `groups`."""
    dicts = [g.to_optimizer() for g in groups]
    if config.optimizer == "sgd":
        return torch.optim.SGD(dicts, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "adam":
        return torch.optim.Adam(dicts, lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(dicts, lr=config.lr)
    return torch.optim.RMSprop(dicts, lr=config.lr, momentum=config.momentum)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                   steps_per_epoch: int) -> Any:
    """Return the per-update lr scheduler named in config, after its warmup (None: neither)."""
    warm = warmup_steps(config, steps_per_epoch)
    main = _main_scheduler(optimizer, config, steps_per_epoch, warm)
    return with_warmup(optimizer, main, warm, config.warmup_decay) if warm else main


def _main_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int,
                    warm: int) -> Any:
    """Return the scheduler named in config over the updates after the warmup (None for "none")."""
    total = max(1, config.epochs * steps_per_epoch - warm)
    sched = torch.optim.lr_scheduler
    if config.scheduler == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=total)
    if config.scheduler == "step":
        every = (config.step_epochs or max(1, config.epochs // 3)) * steps_per_epoch
        return sched.StepLR(optimizer, step_size=max(1, every), gamma=config.gamma)
    if config.scheduler == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                total_steps=total)
    return None
