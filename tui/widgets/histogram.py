"""A histogram of a layer's weights, drawn as text: a title, a count axis with ticks at round
values, one column per cell (the bins resampled to the width, so an even distribution draws
even columns, never a comb) and a value axis with round ticks. --ascii draws the same with '#'."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

from tui.format import human_count

EIGHTHS = " ▁▂▃▄▅▆▇█"
"""A column's top cell, by how many eighths of it are filled."""


def nice_step(span: float, most: int) -> float:
    """Return the smallest 1, 2 or 5 times a power of ten that cuts `span` into at most `most`
    steps."""
    if span <= 0 or most < 1:
        return 1.0
    raw = span / most
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def round_ticks(low: float, high: float, most: int) -> list[float]:
    """Return the multiples of a round step (1, 2 or 5 times a power of ten) in [low, high]."""
    step = nice_step(high - low, most)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    number = first
    while number * step <= high + step * 1e-9:
        ticks.append(0.0 if abs(number * step) < step * 1e-9 else number * step)
        number += 1
    return ticks


def tick_label(value: float, step: float) -> str:
    """Return a tick's label with as many decimals as its step needs: 0.05, -0.1, 2, 20K."""
    if abs(value) >= 1000 and abs(step) >= 100:
        return human_count(value).replace(".0", "")
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return f"{value:.{decimals}f}"


def resample(counts: list[float], columns: int) -> list[float]:
    """Return `counts` spread over `columns` equal parts of the same range (a bin split between
    two columns gives each its share), so equal bins give equal columns."""
    bins = len(counts)
    out = [0.0] * columns
    for column in range(columns):
        start, end = column * bins / columns, (column + 1) * bins / columns
        index = int(start)
        while index < bins and index < end:
            overlap = min(end, index + 1) - max(start, index)
            out[column] += counts[index] * overlap
            index += 1
    return out


def histogram_text(
    counts: list[float],
    edges: list[float],
    width: int,
    height: int,
    title: str = "",
    ascii_only: bool = False,
) -> Text:
    """Return the histogram of `counts` over bin `edges` in `width` x `height` cells."""
    if not counts:
        return Text("")
    if width < 12 or height < 5:
        return Text(title, style="dim")
    rows = height - 3  # the title, the axis line and its labels
    most = max(1, min(4, rows // 2))
    values = resample(counts, max(1, width - 8))
    top = max(values) or 1.0
    step = nice_step(top, most)
    labels = {tick: tick_label(tick, step) for tick in round_ticks(0, top, most)}
    label_width = max(len(label) for label in labels.values())
    columns = width - label_width - 1
    values = resample(counts, columns)  # the counts per column, as drawn and as the axis says
    top = max(values) or 1.0
    tick_rows: dict[int, str] = {}
    for tick in round_ticks(0, top, most):  # a tick sits on the row its height reaches
        tick_rows.setdefault(max(0, round(tick / top * rows) - 1), tick_label(tick, step))
    text = Text()
    text.append(title[:width].center(width).rstrip() + "\n", style="bold")
    tick_mark, axis, corner, line = ("+", "|", "+", "-") if ascii_only else ("┤", "│", "└", "─")
    for row in range(rows - 1, -1, -1):
        label = tick_rows.get(row, "")
        text.append(label.rjust(label_width) + (tick_mark if label else axis), style="dim")
        cells = []
        for value in values:
            filled = value / top * rows * 8 - row * 8
            if ascii_only:
                cells.append("#" if filled >= 4 else " ")
            else:
                cells.append(EIGHTHS[max(0, min(8, round(filled)))])
        text.append("".join(cells).rstrip(), style="cyan")
        text.append("\n")
    text.append(" " * label_width + corner + line * columns + "\n", style="dim")
    text.append_text(_value_axis(edges[0], edges[-1], columns, label_width + 1))
    return text


def _value_axis(low: float, high: float, columns: int, indent: int) -> Text:
    """The labels under the value axis: round ticks where they fall, never overlapping."""
    most = max(2, columns // 9)
    step = nice_step(high - low, most)
    cells = [" "] * (columns + indent)
    taken = -1
    for tick in round_ticks(low, high, most):
        label = tick_label(tick, step)
        centre = indent + round((tick - low) / (high - low) * (columns - 1)) if high > low else indent
        start = max(0, min(len(cells) - len(label), centre - len(label) // 2))
        if start <= taken + 1:
            continue
        cells[start : start + len(label)] = list(label)
        taken = start + len(label)
    return Text("".join(cells).rstrip(), style="dim")


class WeightHistogram(Static):
    """The distribution of a layer's weights (counts per bin), redrawn to fit its size."""

    DEFAULT_CSS = """
    WeightHistogram { height: 12; }
    """

    def __init__(self, ascii_only: bool = False, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.ascii_only = ascii_only
        self._data: tuple[list[float], list[float], str | Callable[[int], str]] = ([], [], "")

    def show(self, counts: list[float], edges: list[float],
             title: str | Callable[[int], str] = "") -> None:
        """Draw the histogram of `counts` over bin `edges`; `title` may be a function of the
        width (a long path is cut to the width the histogram has when it is drawn)."""
        self._data = (counts, edges, title)
        self._draw()

    def on_resize(self) -> None:
        """Redraw at the new size."""
        self._draw()

    def _draw(self) -> None:
        counts, edges, title = self._data
        width, height = self.content_region.width or 40, self.content_region.height or 10
        text = title(width) if callable(title) else title
        self.update(histogram_text(counts, edges, width, height, text, self.ascii_only))
