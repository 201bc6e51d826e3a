"""Issue 21, EMA in a short finetune: when the run has fewer updates than ema_steps, AveragedModel
is never updated and keeps the starting weights; when the EMA's horizon (ema_steps / (1 -
ema_decay) updates) is longer than the run, it stays close to them. The job log warns of both."""

from __future__ import annotations

import copy

import pytest
import torch
from finetune_helpers import RecordedEvents, digits_config, tiny_net

from engine.train.data import build_datasets
from engine.train.loop import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(digits, **extra):
    config = digits_config(digits, backbone_lr=0.01, scheduler="none", **extra)
    model = tiny_net()
    start = copy.deepcopy(model.state_dict())
    events = RecordedEvents()
    trainer = Trainer(model, config, build_datasets(config), events=events)
    assert trainer.run().status == "done"
    return trainer, start, events.lines


def test_an_ema_never_updated_in_the_run_is_named_in_the_log(digits):
    trainer, start, lines = _run(digits, ema_decay=0.9998, ema_steps=32)  # 8 updates
    total = trainer.updates_per_epoch * trainer.config.epochs
    assert total < 32
    # the reference: AveragedModel keeps its starting copy until its first update_parameters
    for name, value in trainer.ema.module.state_dict().items():
        torch.testing.assert_close(value, start[name], rtol=0, atol=0, msg=name)
    (line,) = [line for line in lines if "EMA" in line and "warning" in line]
    assert f"this run has {total} updates" in line and "starting weights" in line and "ema_steps" in line


def test_an_ema_averaging_over_more_updates_than_the_run_has_is_named_in_the_log(digits):
    trainer, _start, lines = _run(digits, ema_decay=0.99, ema_steps=1)
    total = trainer.updates_per_epoch * trainer.config.epochs
    (line,) = [line for line in lines if "EMA" in line and "warning" in line]
    assert "about 100 updates" in line and f"this run has {total}:" in line and "ema_decay" in line


def test_the_horizon_counts_the_updates_after_warmup_where_the_ema_only_copies(digits):
    trainer, _start, lines = _run(digits, ema_decay=0.9, ema_steps=1, epochs=2, warmup_epochs=1)
    assert trainer.updates_per_epoch < 10 < 2 * trainer.updates_per_epoch  # the average needs ~10 updates
    (line,) = [line for line in lines if "EMA" in line and "warning" in line]
    assert f"this run has {trainer.updates_per_epoch} after warmup" in line


def test_an_ema_that_fits_the_run_gets_no_warning(digits):
    _trainer, _start, lines = _run(digits, ema_decay=0.5, ema_steps=1)
    assert not [line for line in lines if "EMA" in line and "warning" in line]
