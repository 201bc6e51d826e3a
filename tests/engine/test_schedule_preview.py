"""The launch form's schedule preview (issue 21) is the lr torch's own schedulers give, step by step."""

from __future__ import annotations

import math

import pytest
import torch

from engine.train.config import train_config
from engine.train.schedule_preview import lr_schedule, updates_per_epoch


def _torch_lrs(build, lr: float, total: int) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build(optimizer)
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_warmup_then_cosine_equals_linearlr_then_cosineannealinglr():
    config = train_config({"epochs": 5, "lr": 0.1, "warmup_epochs": 2, "warmup_decay": 0.01})
    xs, (curve,) = lr_schedule(config, [0.1], per_epoch=4)
    sched = torch.optim.lr_scheduler

    def build(opt):
        warm = sched.LinearLR(opt, start_factor=0.01, end_factor=1.0, total_iters=8)
        return sched.SequentialLR(opt, [warm, sched.CosineAnnealingLR(opt, T_max=12)], milestones=[8])

    assert curve == pytest.approx(_torch_lrs(build, 0.1, 20), rel=1e-12)
    assert xs[:5] == [0, 0.25, 0.5, 0.75, 1.0] and len(xs) == 20
    assert curve[0] == pytest.approx(0.001) and max(curve) == pytest.approx(0.1)


def test_each_group_follows_its_own_lr_and_step_decays_by_gamma():
    config = train_config({"epochs": 6, "scheduler": "step", "step_epochs": 2, "gamma": 0.5})
    _, (head, backbone) = lr_schedule(config, [0.01, 0.001], per_epoch=1)
    assert head == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert backbone == pytest.approx([h / 10 for h in head])


def test_a_long_run_is_previewed_with_fewer_updates_per_epoch_and_keeps_its_shape():
    config = train_config({"epochs": 1000, "scheduler": "cosine"})
    xs, (curve,) = lr_schedule(config, [0.01], per_epoch=500)
    assert len(xs) <= 5000 and xs[-1] < 1000
    middle = curve[len(curve) // 2]
    assert middle == pytest.approx(0.005, rel=0.01)


def test_updates_per_epoch_counts_batches_and_accumulation_like_the_loop():
    config = train_config({"batch_size": 32, "accumulate_steps": 3})
    assert updates_per_epoch(100, config) == math.ceil(math.ceil(100 / 32) / 3)
    assert updates_per_epoch(100, config, world=2) == math.ceil(math.ceil(50 / 32) / 3)
