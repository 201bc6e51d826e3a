"""The layer-std plot of the init lab (plotext), drawn by the CLI and the Init Lab screen alike."""

from __future__ import annotations

import math
from typing import Any

ACTIVATION_NAMES = ("none", "tanh", "relu", "leaky_relu", "sigmoid", "gelu")
"""engine.use.init_lab.ACTIVATIONS' names, here so that parsing and forms need no torch import."""
FLOOR = 1e-38
"""Smallest std drawn on the log axis (a std of exactly 0 cannot be shown)."""


def draw_std_plot(plt: Any, runs: list[tuple[str, list[float], int | None]],
                  title: str = "output std per layer (log scale)", marker: str = "braille") -> None:
    """Draw runs of (label, stds, first_nonfinite_layer) on a plotext figure `plt`."""
    plt.clear_data()
    plt.clear_figure() if hasattr(plt, "clear_figure") else None
    plt.title(title)
    plt.xlabel("layer")
    plt.ylabel("std")
    plotted = False
    colors = ("cyan", "orange", "green", "magenta", "red", "blue", "yellow")
    longest = max([len(stds) + 1 for _, stds, _ in runs] or [1])
    top = max([max(stds) for _, stds, _ in runs if stds] or [1.0])
    for number, (label, stds, nonfinite) in enumerate(runs):
        color = colors[number % len(colors)]
        if stds:
            ys = [max(s, FLOOR) for s in stds]
            plt.plot(list(range(len(ys))), ys, label=label, color=color, marker=marker)
            plotted = True
        if nonfinite is not None:  # a line at the layer that turned inf/nan, labelled beside it
            plt.vline(nonfinite, color)
            right = nonfinite > longest / 2
            plt.text(f"inf @{nonfinite} " if right else f" inf @{nonfinite}", nonfinite, top,
                     color=color, alignment="right" if right else "left")
    if plotted:
        plt.yscale("log")
        values = [max(s, FLOOR) for _, stds, _ in runs for s in stds]
        low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        step = max(1, math.ceil((high - low) / 6))
        decades = list(range(low, high + 1, step))
        plt.yticks([10.0**d for d in decades], [f"1e{d}" if d else "1" for d in decades])
        longest = max(len(stds) for _, stds, _ in runs)
        xstep = max(1, math.ceil(longest / 10))
        plt.xticks(list(range(0, longest, xstep)))


def render_plot(runs: list[tuple[str, list[float], int | None]], width: int, height: int,
                color: bool) -> str:
    """Return the std plot of `runs` as text (ANSI colours when `color`)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    draw_std_plot(plt, runs)
    text = plt.build()
    if not color:
        text = plt.uncolorize(text)
    plt.clear_figure()
    return text
