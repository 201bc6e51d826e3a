"""The learning-rate finder's curve (plotext, log x), drawn by the CLI and the launch form alike."""

from __future__ import annotations

import math
from typing import Any


def _decade_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Return tick positions (log10 values) and labels for every decade from `low` to `high`."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    step = max(1, math.ceil((last - first) / 8))
    decades = list(range(first, last + 1, step))
    return [float(d) for d in decades], [f"1e{d}" if d else "1" for d in decades]


def draw_lr_plot(plt: Any, lrs: list[float], losses: list[float], suggestion: float | None,
                 marker: str = "braille") -> None:
    """Draw the smoothed loss against lr (log x) on a plotext figure, the suggestion marked."""
    plt.clear_data()
    plt.title("learning-rate range test: smoothed loss")
    plt.xlabel("learning rate (log)")
    plt.ylabel("loss")
    if not lrs:
        return
    xs = [math.log10(lr) for lr in lrs]
    plt.plot(xs, losses, color="cyan", marker=marker, label="smoothed loss")
    positions, labels = _decade_ticks(min(lrs), max(lrs))
    plt.xticks(positions, labels)
    if suggestion is not None:
        plt.vline(math.log10(suggestion), "orange")
        plt.text(f" suggested {suggestion:.2g}", math.log10(suggestion), max(losses), color="orange")


def render_lr_plot(lrs: list[float], losses: list[float], suggestion: float | None, width: int,
                   height: int, color: bool) -> str:
    """Return the curve as text (ANSI colours when `color`)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    draw_lr_plot(plt, lrs, losses, suggestion)
    text = plt.build()
    if not color:
        text = plt.uncolorize(text)
    plt.clear_figure()
    return text
