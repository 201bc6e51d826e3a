"""The learning-rate range test: its curve, its suggestion, and that the suggestion trains."""

from __future__ import annotations

import math

import pytest
import torch
from finetune_helpers import tiny_net, write_recipe

from engine.edit.recipe import Recipe, load
from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.loop import train
from engine.train.lr_find import find_lr, find_lr_for_recipe, lr_schedule, steepest
from engine.train.sample_data import write_digits


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("data") / "digits", size=16)


def test_the_schedule_grows_exponentially_from_start_to_end():
    lrs = lr_schedule(1e-6, 1.0, 7)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    assert [round(math.log10(lr), 9) for lr in lrs] == [-6, -5, -4, -3, -2, -1, 0]


def test_steepest_descent_is_where_the_loss_falls_fastest_against_log_lr():
    lrs = lr_schedule(1e-6, 1.0, 61)
    # a smooth S-shaped fall centred on 1e-3, then a rise: steepest at 1e-3
    losses = [2.0 - math.tanh(2 * (math.log10(lr) + 3)) + max(0.0, math.log10(lr) + 1) ** 2
              for lr in lrs]
    assert math.log10(steepest(lrs, losses)) == pytest.approx(-3, abs=0.1)
    assert steepest(lrs, sorted(losses)) is None  # a curve that only rises has no suggestion


@pytest.mark.parametrize("start, end, steps", [(0, 1, 100), (1, 1e-3, 100), (1e-7, math.inf, 100),
                                               (1e-7, 10, 2)])
def test_a_bad_range_says_what_to_use(tmp_path, start, end, steps):
    recipe = Recipe(model={"name": "resnet18", "weights": "none"}, train={"data": str(tmp_path)})
    with pytest.raises(BadInput) as caught:
        find_lr_for_recipe(recipe, start=start, end=end, steps=steps)
    assert "--start" in caught.value.fix or "--steps" in caught.value.fix


def test_freezing_and_group_ratios_are_kept(digits, one_thread):
    model = tiny_net()
    model.features[0].requires_grad_(False)
    frozen = model.features[0].weight.detach().clone()
    config = train_config({"data": str(digits), "image_size": 16, "batch_size": 32, "workers": 0,
                           "optimizer": "sgd", "lr": 0.01})
    result = find_lr(model, config, build_datasets(config), torch.device("cpu"), start=1e-5,
                     end=1.0, steps=12)
    assert torch.equal(model.features[0].weight, frozen)  # frozen layers never move
    # the backbone learns at lr/10 by default: the sweep keeps that ratio
    assert result.ratios["head weights"] == 1.0
    assert result.ratios["backbone weights"] == pytest.approx(0.1)
    assert result.lrs == lr_schedule(1e-5, 1.0, 12)[:len(result.lrs)]


@pytest.mark.slow
def test_the_suggested_lr_trains_resnet18_on_digits(tmp_path, digits, one_thread):
    hand_picked = {"data": str(digits), "image_size": 16, "batch_size": 128, "epochs": 3,
                   "optimizer": "adam", "lr": 0.002, "backbone_lr": 0.002, "scheduler": "cosine",
                   "workers": 0}  # the end-to-end finetune test's settings (test_finetune_digits)
    path = write_recipe(tmp_path / "r.toml", "resnet18", hand_picked)
    result = find_lr_for_recipe(load(path), start=1e-6, end=10.0, steps=80)
    lowest = min(result.losses)
    assert lowest < 0.8 * result.losses[0]  # the curve descends...
    assert result.stopped == "diverged" and result.losses[-1] > 2 * lowest  # ...then diverges
    assert result.suggestion is not None and 1e-5 < result.suggestion < 1.0
    assert result.min_over_10 == pytest.approx(result.min_loss_lr / 10)

    suggested = train_config({**hand_picked, "lr": result.suggestion,
                              "backbone_lr": result.suggestion})
    from engine.edit.recipe import build

    model = build(load(path)).model
    done = train(model, suggested, build_datasets(suggested))
    assert done.status == "done" and done.epoch == 3
    assert done.best_val_acc >= 90.0, done.history


def test_a_head_that_does_not_fit_the_classes_is_refused_before_the_sweep(digits, one_thread):
    config = train_config({"data": str(digits), "image_size": 16, "batch_size": 32, "workers": 0})
    with pytest.raises(BadInput) as caught:
        find_lr(tiny_net(num_classes=1000), config, build_datasets(config), torch.device("cpu"),
                steps=10)
    assert "1000" in caught.value.what and "10 classes" in caught.value.what
    assert "num_classes = 10" in caught.value.fix
