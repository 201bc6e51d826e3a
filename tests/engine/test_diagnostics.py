"""Each layer learning: gradient norm, weight norm and update ratio per block, and the flags."""

from __future__ import annotations

import pytest
import torch
from finetune_helpers import tiny_net
from torch import nn

from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.diagnostics import LayerDiagnostics, interval
from engine.train.events import Events
from engine.train.loop import Trainer
from engine.train.params import param_groups
from engine.train.sample_data import write_digits


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, diagnostics: LayerDiagnostics,
          extra=None) -> dict:
    torch.manual_seed(0)
    x, y = torch.randn(8, 3, 12, 12), torch.randint(0, 10, (8,))
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    diagnostics.before_step()
    optimizer.step()
    if extra is not None:
        extra()
    return diagnostics.after_step(0, 1)


def test_numbers_match_plain_pytorch_for_a_plain_sgd_step():
    model = tiny_net()
    config = train_config({"optimizer": "sgd", "lr": 0.1, "backbone_lr": 0.1, "momentum": 0.0,
                           "weight_decay": 0.0})
    groups = param_groups(model, config)
    optimizer = torch.optim.SGD([g.to_optimizer() for g in groups], lr=0.1)
    record = _step(model, optimizer, LayerDiagnostics(model, groups, every=1))
    # plain PyTorch: with SGD and no momentum the update is exactly lr * grad
    grads = [p.grad for p in model.fc.parameters()]
    weights = [p.detach() for p in model.fc.parameters()]
    grad_norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])).item()
    weight_norm = torch.linalg.vector_norm(torch.cat([w.flatten() for w in weights])).item()
    fc = record["blocks"]["fc"]
    assert fc["grad_norm"] == pytest.approx(grad_norm, rel=1e-5)
    assert fc["weight_norm"] == pytest.approx(weight_norm, rel=1e-5)
    assert fc["update_ratio"] == pytest.approx(0.1 * grad_norm / weight_norm, rel=1e-4)
    assert set(record["groups"]) == {g.name for g in groups}
    assert record["flags"] == []


def test_frozen_blocks_are_reported_and_a_moving_frozen_block_is_flagged():
    model = tiny_net()
    model.features.requires_grad_(False)
    config = train_config({"optimizer": "sgd", "lr": 0.1})
    groups = param_groups(model, config)
    diagnostics = LayerDiagnostics(model, groups, every=1)
    optimizer = torch.optim.SGD([g.to_optimizer() for g in groups], lr=0.1)
    quiet = _step(model, optimizer, diagnostics)
    assert quiet["blocks"]["features"] == {"trainable": False, "frozen_moved": False}
    assert quiet["flags"] == []

    def buggy_update():  # e.g. a hand-written optimizer that also touches frozen weights
        with torch.no_grad():
            model.features[0].weight.mul_(0.99)

    moved = _step(model, optimizer, diagnostics, extra=buggy_update)
    assert moved["blocks"]["features"]["frozen_moved"]
    assert moved["flags"] == ["features: frozen weights changed (they should not move)"]


def test_vanishing_and_exploding_gradients_are_flagged():
    model = tiny_net()
    with torch.no_grad():  # the last BatchNorm outputs -1 everywhere: its ReLU passes no gradient
        model.features[5].weight.zero_()
        model.features[5].bias.fill_(-1.0)
    config = train_config({"optimizer": "sgd", "lr": 1e3, "backbone_lr": 1e3, "momentum": 0.0})
    groups = param_groups(model, config)
    optimizer = torch.optim.SGD([g.to_optimizer() for g in groups], lr=1e3)
    record = _step(model, optimizer, LayerDiagnostics(model, groups, every=1))
    assert "features: gradients vanish" in " ".join(record["flags"])
    assert any(flag.startswith("fc: one step changed the weights by") and "(exploding)" in flag
               for flag in record["flags"])


def test_the_automatic_interval_measures_about_four_times_an_epoch():
    assert interval(-1, 100) == 25 and interval(-1, 5000) == 1250
    assert interval(-1, 23) == 10  # short epochs: not more often than every 10 steps...
    assert interval(-1, 3) == 3  # ...but at least once an epoch
    assert interval(0, 100) == 0 and interval(7, 100) == 7


class Layers(Events):
    def __init__(self):
        self.records = []

    def layers(self, record):
        self.records.append(record)


def test_a_training_run_records_every_block_at_the_default_interval(tmp_path, one_thread):
    digits = write_digits(tmp_path / "digits", size=12, limit=256)
    config = train_config({"data": str(digits), "image_size": 12, "batch_size": 32, "epochs": 2,
                           "workers": 0, "optimizer": "adam", "lr": 0.01})
    model = tiny_net()
    events = Layers()
    trainer = Trainer(model, config, build_datasets(config), events=events)
    result = trainer.run()
    assert result.status == "done"
    per_epoch = trainer.steps_per_epoch // interval(-1, trainer.steps_per_epoch)
    assert len(events.records) == 2 * per_epoch
    assert [r["epoch"] for r in events.records] == [1] * per_epoch + [2] * per_epoch
    for record in events.records:
        assert set(record["blocks"]) == {"features", "fc"}
        for row in record["blocks"].values():
            assert row["trainable"] and row["grad_norm"] > 0 and 0 < row["update_ratio"] < 1


def test_a_flag_is_the_same_problem_whatever_its_size():
    from engine.train.diagnostics import flag_kind

    a = "fc: one step changed the weights by 12% (exploding)"
    b = "fc: one step changed the weights by 230% (exploding)"
    assert flag_kind(a) == flag_kind(b)
    assert flag_kind(a) != flag_kind("features: one step changed the weights by 12% (exploding)")
    assert flag_kind("fc: gradients vanish (3.2e-09 of the weights' norm)") == \
        flag_kind("fc: gradients vanish (7.5e-10 of the weights' norm)")
