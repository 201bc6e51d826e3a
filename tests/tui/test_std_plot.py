"""The std plot's log axis: decade ticks for any run, zeros drawn apart, and a key line under the
plot (no legend over the curves) that names each run and where it hit inf or 0."""

from __future__ import annotations

import itertools
import math
import re

import torch
from torch import nn

from tui.std_plot import render_plot


def _y_labels(text: str) -> list[str]:
    """The labels left of the plot's y axis, top to bottom."""
    return re.findall(r"^ *(\S+)┤", text, flags=re.MULTILINE)


def _stds(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Plain PyTorch: each layer's output std for input x."""
    out = []
    with torch.no_grad():
        for layer in model:
            x = layer(x)
            out.append(float(x.std()))
    return out


def test_a_single_run_within_one_decade_has_labelled_ticks():
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(64, 64) for _ in range(8)])  # default init: std shrinks
    stds = _stds(model, torch.randn(256, 64))
    assert min(stds) > 0.01 and max(stds) < 1  # within about one decade
    labels = _y_labels(render_plot([("default", stds, None)], 70, 20, color=False))
    assert len(labels) >= 3  # not just "1"
    values = [float(label) for label in labels]
    assert min(values) <= min(stds) and max(values) >= max(stds)  # the ticks bracket the curve


def test_a_std_of_zero_is_marked_apart_and_does_not_stretch_the_axis():
    torch.manual_seed(0)
    head = nn.Linear(32, 10)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)  # like vit_h_14's head at init: its output std is exactly 0
    model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), head)
    stds = _stds(model, torch.randn(64, 32))
    assert stds[-1] == 0.0
    text = render_plot([("init", stds, None)], 70, 20, color=False)
    labels = _y_labels(text)
    assert labels[-1] == "0"  # the zero row, apart from the decades
    lowest_decade = float(labels[-2])
    assert lowest_decade >= min(s for s in stds if s > 0) / 100  # a decade or two below, not 1e-38
    assert "e-38" not in text and "key: init (std 0 @2)" in text.splitlines()[-1]


def _plot_area(text: str) -> list[str]:
    """The rows between the plot's frame corners, y labels cut off."""
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return [re.split("[┤│]", line, maxsplit=1)[-1] for line in lines[top + 1 : bottom]]


def test_the_key_is_a_line_under_the_plot_and_the_ticks_are_even_decades():
    torch.manual_seed(0)
    deep = nn.Sequential(*[nn.Linear(64, 64) for _ in range(30)])  # default init: std shrinks
    shrinking = _stds(deep, torch.randn(256, 64))
    runs = [
        ("default", shrinking, None),
        ("exploding", [1.0, 10.0, 1e3, 1e6, float("inf")], 4),
        ("steady", [1.0, 0.9, 0.8, 0.8, 0.7], None),
    ]
    for width, height in ((50, 12), (70, 20), (120, 30)):
        text = render_plot(runs, width, height, color=False)
        assert len(text.splitlines()) == height
        assert text.splitlines()[-1] == (
            "key: default (cyan), exploding (inf @4) (dark_orange), steady (green)"
        )
        area = "\n".join(_plot_area(text))
        assert not any(name in area for name in ("default", "exploding", "steady", "inf"))
        decades = [round(math.log10(float(label))) for label in _y_labels(text)]
        assert all(float(label) == 10.0**d for label, d in zip(_y_labels(text), decades))
        assert len(decades) >= 3 and len({a - b for a, b in itertools.pairwise(decades)}) == 1
        assert decades[-1] <= math.log10(min(shrinking)) and decades[0] >= 6  # they bracket the runs
        rows = [i for i, line in enumerate(text.splitlines()) if re.match(r"^ *\S+┤", line)]
        assert len({b - a for a, b in itertools.pairwise(rows)}) == 1  # and evenly apart on screen
