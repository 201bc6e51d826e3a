"""The [train] table: defaults, type coercion, overrides and clear errors."""

from __future__ import annotations

import pytest

from engine.errors import BadInput
from engine.train.config import TrainConfig, train_config


def test_defaults_and_contract_keys():
    config = train_config({"data": "/x"})
    for key in ("data", "val_split", "image_size", "batch_size", "epochs", "optimizer", "lr",
                "head_lr", "momentum", "weight_decay", "scheduler", "seed", "device", "amp"):
        assert hasattr(config, key)
    assert (config.optimizer, config.scheduler, config.device, config.amp) == \
        ("sgd", "cosine", "auto", "auto")  # amp = true: bf16 where the GPU has it
    assert config.to_dict()["data"] == "/x"
    assert "head_lr" not in config.to_dict()  # None values are left out of the TOML


def test_overrides_win_and_strings_are_coerced():
    config = train_config({"epochs": 3, "lr": 0.1}, {"epochs": "7", "amp": "off", "lr": None,
                                                     "augment": "crop,flip"})
    assert config.epochs == 7 and config.amp == "off" and config.lr == 0.1
    assert config.augment == ["crop", "flip"]
    assert train_config({"augment": True}).augment == ["crop", "flip"]


@pytest.mark.parametrize("table, words", [
    ({"optimizer": "lion"}, ["optimizer", "sgd, adam, adamw, rmsprop"]),
    ({"scheduler": "poly"}, ["scheduler", "cosine"]),
    ({"device": "tpu"}, ["device", "cuda:N"]),
    ({"epochs": 0}, ["epochs", "at least 1"]),
    ({"epochs": 2.5}, ["epochs", "int"]),
    ({"val_split": 1.5}, ["val_split"]),
    ({"lr": -1}, ["lr"]),
    ({"head_epochs": 5, "epochs": 2}, ["head_epochs"]),
    ({"augment": ["mixup"]}, ["augment", "crop, flip, color"]),
    ({"batchsize": 4}, ["unknown", "batchsize"]),
    ({"workers": 1000000}, ["workers", "cores", "--force"]),
    ({"workers": -5}, ["workers", "processes"]),
    ({"lr": 1e308 * 10}, ["lr", "finite"]),
    ({"lr": 0}, ["lr", "> 0"]),
    ({"image_size": 1000000000}, ["image_size", "4096", "--force"]),
    ({"batch_size": 10**9}, ["batch_size", "at most"]),
    ({"momentum": float("nan")}, ["momentum", "finite"]),
])
def test_bad_values_say_what_why_and_fix(table, words):
    """Issue 11: unbounded settings (workers 1e6, lr inf, image size 1e9) are refused up front."""
    with pytest.raises(BadInput) as caught:
        train_config(table)
    message = caught.value.message
    assert all(word in message for word in words), message
    assert "fix:" in message


def test_workers_auto_is_bounded():
    assert 0 <= TrainConfig().resolved_workers() <= 8
    assert TrainConfig(workers=3).resolved_workers() == 3
