"""The key drawn under a plot instead of a legend over its data, and even round y ticks: shared
by the std plot, the jobs screen's plots and the CLI commands that print them."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from engine.text import printable
from tui.widgets.histogram import nice_step, tick_label

COLORS = ("cyan", "orange", "green", "magenta", "red", "blue", "yellow", "white")
"""The curves' colours, in order (plotext names)."""
RICH_COLORS = {"orange": "dark_orange"}
"""plotext colour names that Rich spells otherwise."""


def curve_keys(names: list[str]) -> list[tuple[str, str]]:
    """Return (block name, Rich colour) for each curve, in the plot's colours: the key drawn
    under the plot instead of a legend over its data."""
    return [(name, RICH_COLORS.get(c, c)) for name, c in
            ((name, COLORS[n % len(COLORS)]) for n, name in enumerate(names))]


def key_text(names: list[str]) -> Text:
    """Return the key line `key: ━ name ━ name`, each mark in its curve's colour (COLORS order)."""
    text = Text("key:")
    for name, color in curve_keys(names):
        text.append(" ━", style=color)
        text.append(printable(name))
    return text


def key_words(names: list[str]) -> str:
    """Return the key for plain text: `key: train (cyan), val (dark_orange)`."""
    return "key: " + ", ".join(f"{printable(name)} ({color})" for name, color in curve_keys(names))


def color_of(number: int) -> str:
    """Return the plotext colour of the curve numbered `number` (the key names the same)."""
    return COLORS[number % len(COLORS)]


def data_rows(rows: int) -> int:
    """Return the rows between the frame of a plot `rows` high with a title, x ticks and x label."""
    return max(2, rows - 5)


def tick_room(rows: int) -> int:
    """Return how many tick intervals a plot `rows` high can label: a row between labels, or a
    label on every row when it has five rows or fewer."""
    gaps = data_rows(rows) - 1
    return max(1, gaps if gaps < 5 else gaps // 2)


def even_ticks(low: float, high: float, most: int) -> list[float]:
    """Return evenly spaced ticks at multiples of a round step (1, 2 or 5 times a power of ten)
    from at or below `low` to at or above `high`, at most `most` steps apart."""
    if not high > low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = nice_step(high - low, most)
    while True:
        bottom, top = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if top - bottom <= most:
            return [0.0 if n == 0 else n * step for n in range(bottom, top + 1)]
        step = nice_step(step * 1.0001, 1)  # the next round step up


def set_even_yticks(plt: Any, values: list[float], rows: int) -> None:
    """Pin the y axis of `plt` (a plot `rows` high) to even round ticks around the finite `values`
    (none: unchanged). Each tick step spans the same number of rows: any rows left over stay
    blank above the top tick, so the labels are evenly spaced on screen too."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return
    ticks = even_ticks(min(finite), max(finite), tick_room(rows))
    step = ticks[1] - ticks[0]
    gaps = data_rows(rows) - 1
    per_step = max(1, gaps // (len(ticks) - 1))
    plt.ylim(ticks[0], ticks[0] + step * gaps / per_step)
    plt.yticks(ticks, [tick_label(t, step) for t in ticks])
