"""The std plot's log axis: labelled ticks for any run, zeros drawn apart, inf noted in the legend."""

from __future__ import annotations

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
    assert "e-38" not in text and "init: std 0" in text


def test_the_nonfinite_layer_is_named_in_the_legend_not_drawn_over_it():
    stds = [1.0, 10.0, 1e3, 1e6, float("inf")]
    text = render_plot([("exploding", stds, 4), ("steady", [1.0, 0.9, 0.8, 0.8, 0.7], None)],
                       70, 20, color=False)
    legend = [line for line in text.splitlines() if "exploding" in line or "steady" in line]
    assert any("exploding (inf @4)" in line for line in legend)
    assert any(re.search(r"steady\s*│?$|steady ", line) for line in legend)
