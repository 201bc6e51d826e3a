"""The layer-std plot of the init lab (plotext), drawn by the CLI and the Init Lab screen alike."""

from __future__ import annotations

import math
from typing import Any

ACTIVATION_NAMES = ("none", "tanh", "relu", "leaky_relu", "sigmoid", "gelu")
"""engine.use.init_lab.ACTIVATIONS' names, here so that parsing and forms need no torch import."""
COLORS = ("cyan", "orange", "green", "magenta", "red", "blue", "yellow")


def decade_label(value: float) -> str:
    """Return a tick label for a power of ten or 2x/5x of one: 0.01, 0.5, 1, 20, 1e-05, 2e+06."""
    if 1e-3 <= value < 1e4:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.0e}"


def log_axis(values: list[float]) -> tuple[int, int, list[float]]:
    """Return (lowest decade, highest decade, tick values) spanning the positive `values`.

    Always at least one decade, so a single run that stays between 0.5 and 0.9 still gets labels
    (0.1, 0.2, 0.5, 1); 2x and 5x ticks are added when the axis spans two decades or fewer.
    """
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    high = max(high, low + 1)
    step = max(1, math.ceil((high - low) / 6))
    ticks = [10.0**d for d in range(low, high + 1, step)]
    if high - low <= 2:
        ticks = sorted(ticks + [m * 10.0**d for d in range(low, high) for m in (2, 5)])
    return low, high, ticks


def draw_std_plot(plt: Any, runs: list[tuple[str, list[float], int | None]],
                  title: str = "output std per layer (log scale)", marker: str = "braille") -> None:
    """Draw runs of (label, stds, first_nonfinite_layer) on a plotext figure `plt`.

    The y axis is logarithmic with labelled ticks. Stds of exactly 0 cannot sit on a log axis:
    they are drawn apart, as `0` marks on the decade below the smallest non-zero std (the axis is
    not stretched to 1e-38). A layer whose output turned inf/nan gets a vertical line, and the run's
    legend entry says where (`inf @12`), so no text is drawn over the legend or the curves.
    """
    plt.clear_data()
    plt.clear_figure() if hasattr(plt, "clear_figure") else None
    plt.xlabel("layer")
    plt.ylabel("std")
    positive = [s for _, stds, _ in runs for s in stds if math.isfinite(s) and s > 0]
    has_zeros = any(s == 0 for _, stds, _ in runs for s in stds)
    notes = []
    if positive:
        low, high, ticks = log_axis(positive)
        if has_zeros:
            low -= 1
            ticks = [10.0**low, *ticks]
        zero_level = 10.0**low
    plotted = False
    for number, (label, stds, nonfinite) in enumerate(runs):
        color = COLORS[number % len(COLORS)]
        shown = f"{label} (inf @{nonfinite})" if nonfinite is not None else label
        points = [(x, s) for x, s in enumerate(stds) if math.isfinite(s) and s > 0]
        if points:
            plt.plot([x for x, _ in points], [s for _, s in points], label=shown, color=color,
                     marker=marker)
            plotted = True
        elif nonfinite is not None:
            notes.append(shown)
        zeros = [x for x, s in enumerate(stds) if s == 0]
        if zeros and positive:
            plt.scatter(zeros, [zero_level] * len(zeros), marker="0", color=color,
                        label=f"{label}: std 0")
            plotted = True
        if nonfinite is not None:
            plt.vline(nonfinite, color)
    plt.title(title + "".join(f"; {note}" for note in notes))
    if plotted:
        plt.yscale("log")
        # plotext's log axis spans only the data (ylim breaks its legend): two blank points pin
        # the axis to whole decades, so its ticks have labels even for a run within one decade
        plt.scatter([0, 0], [10.0**low, 10.0**high], marker=" ")
        labels = [decade_label(t) for t in ticks]
        if has_zeros:
            labels[0] = "0"  # the zero row: its marks are not a measured 10**low
        plt.yticks(ticks, labels)
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
