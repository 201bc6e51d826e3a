"""The layer-std plot of the init lab (plotext), drawn by the CLI and the Init Lab screen alike."""

from __future__ import annotations

import math
from typing import Any

from tui.plot_key import color_of, data_rows, key_words, tick_room

ACTIVATION_NAMES = ("none", "tanh", "relu", "leaky_relu", "sigmoid", "gelu")
"""engine.use.init_lab.ACTIVATIONS' names, here so that parsing and forms need no torch import."""


def decade_label(value: float) -> str:
    """Return a power of ten's tick label: 0.001, 0.1, 1, 1000, 1e-5, 1e7."""
    decade = round(math.log10(value))
    return f"{value:.3f}".rstrip("0").rstrip(".") if -3 <= decade <= 3 else f"1e{decade}"


def log_axis(values: list[float], most: int = 6) -> tuple[int, int, list[float]]:
    """Return (lowest decade, highest decade, tick values) spanning the positive `values`.

    Always at least one decade, so a single run that stays between 0.5 and 0.9 still gets labels
    (0.1, 1); the ticks are decades only (every decade, or every 2nd, 3rd... past `most` of them),
    so they sit evenly on the log axis.
    """
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    high = max(high, low + 1)
    step = max(1, math.ceil((high - low) / max(1, most)))
    high = low + step * math.ceil((high - low) / step)  # the top decade is labelled too
    return low, high, [10.0**d for d in range(low, high + 1, step)]


def std_keys(runs: list[tuple[str, list[float], int | None]]) -> list[str]:
    """Return each run's name for the key line, with where it turned inf (`inf @12`) or its
    output std was exactly 0 (`std 0 @3`, drawn as 0 marks on the bottom row)."""
    keys = []
    for label, stds, nonfinite in runs:
        notes = [f"inf @{nonfinite}"] if nonfinite is not None else []
        zeros = [x for x, s in enumerate(stds) if s == 0]
        if zeros:
            notes.append(f"std 0 @{zeros[0]}" + ("..." if len(zeros) > 1 else ""))
        keys.append(f"{label} ({', '.join(notes)})" if notes else label)
    return keys


def draw_std_plot(plt: Any, runs: list[tuple[str, list[float], int | None]],
                  title: str = "output std per layer (log scale)", marker: str = "braille",
                  rows: int = 20) -> None:
    """Draw runs of (label, stds, first_nonfinite_layer) on a plotext figure `plt`.

    The y axis is logarithmic with labelled ticks. Stds of exactly 0 cannot sit on a log axis:
    they are drawn apart, as `0` marks on the decade below the smallest non-zero std (the axis is
    not stretched to 1e-38). A layer whose output turned inf/nan gets a vertical line. No legend is
    drawn over the curves: `std_keys(runs)` names them (and says where they hit inf or 0) for the
    key line under the plot, in the same colours. `rows` (the plot's height) sets how many decades
    are labelled, each tick step the same number of rows apart.
    """
    plt.clear_data()
    plt.clear_figure() if hasattr(plt, "clear_figure") else None
    plt.xlabel("layer")
    plt.ylabel("std")
    positive = [s for _, stds, _ in runs for s in stds if math.isfinite(s) and s > 0]
    has_zeros = any(s == 0 for _, stds, _ in runs for s in stds)
    notes = []
    if positive:
        low, high, ticks = log_axis(positive, tick_room(rows))
        if has_zeros:  # one tick step below the lowest decade, so the rows stay even
            low -= round(math.log10(ticks[1] / ticks[0]))
            ticks = [10.0**low, *ticks]
        zero_level = 10.0**low
    plotted = False
    for number, ((_label, stds, nonfinite), shown) in enumerate(zip(runs, std_keys(runs))):
        color = color_of(number)
        points = [(x, s) for x, s in enumerate(stds) if math.isfinite(s) and s > 0]
        if points:
            plt.plot([x for x, _ in points], [s for _, s in points], color=color, marker=marker)
            plotted = True
        elif nonfinite is not None:
            notes.append(shown)
        zeros = [x for x, s in enumerate(stds) if s == 0]
        if zeros and positive:
            plt.scatter(zeros, [zero_level] * len(zeros), marker="0", color=color)
            plotted = True
        if nonfinite is not None:
            plt.vline(nonfinite, color)
    plt.title(title + "".join(f"; {note}" for note in notes))
    if plotted:
        plt.yscale("log")
        # plotext's log axis spans only the data: two blank points pin the axis to whole decades,
        # so its ticks have labels even for a run within one decade, and each tick step spans the
        # same rows (rows left over stay blank above the top tick)
        steps = len(ticks) - 1
        per_step = max(1, (data_rows(rows) - 1) // steps)
        top = low + (high - low) * ((data_rows(rows) - 1) / (per_step * steps))
        plt.scatter([0, 0], [10.0**low, 10.0**top], marker=" ")
        labels = [decade_label(t) for t in ticks]
        if has_zeros:
            labels[0] = "0"  # the zero row: its marks are not a measured 10**low
        plt.yticks(ticks, labels)
        longest = max(len(stds) for _, stds, _ in runs)
        xstep = max(1, math.ceil(longest / 10))
        plt.xticks(list(range(0, longest, xstep)))


def render_plot(runs: list[tuple[str, list[float], int | None]], width: int, height: int,
                color: bool) -> str:
    """Return the std plot of `runs` as text (ANSI colours when `color`), its key line under it."""
    import plotext as plt

    draw_std_plot(plt, runs, rows=height - 1)  # it starts a new figure: the size is set after it
    plt.limitsize(False, False)  # the caller sized it to fit: not cut to this terminal
    plt.plotsize(width, height - 1)
    text = plt.build()
    if not color:
        text = plt.uncolorize(text)
    plt.clear_figure()
    return text.rstrip("\n") + "\n" + key_words(std_keys(runs))
