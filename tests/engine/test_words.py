"""Messages count in English: "1 tensor", "2 tensors", "1 channel", "an int"."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.edit.workbench import Workbench
from engine.errors import BadInput
from engine.train.config import train_config
from engine.words import a_or_an, plural


def test_plural_and_article():
    assert [plural(n, "edit") for n in (0, 1, 2, 1200)] == ["0 edits", "1 edit", "2 edits", "1,200 edits"]
    assert plural(1, "class", "classes") == "1 class" and plural(3, "class", "classes") == "3 classes"
    assert (a_or_an("int"), a_or_an("float"), a_or_an("Input")) == ("an int", "a float", "an Input")


def test_edit_summaries_say_one_tensor_and_one_channel():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    bench = Workbench(model=model, name="tiny", input_size=(1, 3, 16, 16))
    assert bench.apply({"op": "freeze", "target": "0"}).endswith("(1 tensor)")
    assert bench.apply({"op": "freeze", "target": "3"}).endswith("(2 tensors)")
    assert "now takes 1 channel (sum)" in bench.apply({"op": "adapt_input", "channels": 1, "strategy": "sum"})
    assert bench.apply({"op": "init", "target": "0", "method": "zeros"}).endswith(": 1 tensor, 36 values")


def test_a_bad_whole_number_asks_for_an_int():
    with pytest.raises(BadInput) as raised:
        train_config({"data": "x", "epochs": "abc"})
    assert "write an int value" in raised.value.message
