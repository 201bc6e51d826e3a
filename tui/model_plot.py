"""The catalog's metric-against-cost plot drawn as text: a log x axis with round ticks, the
Pareto frontier as a staircase, the cursor's model marked and named where its label covers no
point. Drawn by the catalog's plot screen and by `ptm-tui models --plot` alike."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from rich.text import Text

from engine.models.figures import COSTS, ModelPlot, Point
from engine.text import printable
from tui.format import short_name
from tui.plot_key import even_ticks
from tui.std_plot import decade_label
from tui.widgets.histogram import tick_label

UNITS = {
    "acc@1": "%",
    "acc@5": "%",
    "miou": "%",
    "pixel_acc": "%",
    "box_map": "AP",
    "mask_map": "AP",
    "kp_map": "AP",
    "epe": "pixels",
    "per_image_epe": "pixels",
    "fl_all": "%",
}
"""The unit of each torchvision metric, for the y axis title."""
POINT_STYLE, FRONT_STYLE, LINE_STYLE = "cyan", "bold dark_orange", "dark_orange"
CURSOR_STYLE = "bold black on yellow"


@dataclass(frozen=True)
class Marks:
    """The characters the plot draws with (Unicode, or ASCII under --ascii)."""

    point: str
    front: str
    cursor: str
    across: str
    up: str
    corner: str
    """Where the staircase turns up (accuracy: more is better)."""
    corner_down: str
    """Where it turns down (an error: less is better)."""
    axis_y: str
    axis_x: str
    tick_x: str
    origin: str


UNICODE_MARKS = Marks("•", "◆", "●", "─", "│", "┘", "┐", "┤", "─", "┬", "└")
ASCII_MARKS = Marks("o", "#", "@", "-", "|", "'", ".", "|", "-", "+", "+")


def y_title(plot: ModelPlot) -> str:
    """Return the y axis title with its unit: "ImageNet-1K acc@1 (%)"."""
    unit = UNITS.get(plot.metric.rpartition(" ")[2])
    better = ", lower is better" if plot.lower_better else ""
    return f"{plot.metric} ({unit}{better})" if unit else plot.metric + (f" ({better[2:]})" if better else "")


def x_title(plot: ModelPlot) -> str:
    """Return the x axis title with its unit: "GFLOPs per image, log scale"."""
    return f"{COSTS[plot.cost]}, log scale"


def log_ticks(low: float, high: float, most: int) -> tuple[float, float, list[float]]:
    """Return (log10 of the axis' left end, of its right end, round ticks) for a log axis over
    `low`..`high` with a little room either side: 1, 2 and 5 times powers of ten, else 1 and 3,
    else decades (every 2nd, 3rd... past `most`); at least two ticks, the axis widened to whole
    decades when the values sit between two."""
    span = math.log10(high) - math.log10(low)
    pad = max(0.04 * span, 0.03)
    lo, hi = math.log10(low) - pad, math.log10(high) + pad
    bottom, top = math.floor(lo), math.ceil(hi)
    for factors in ((1, 2, 5), (1, 3), (1,)):
        ticks = [
            f * 10.0**d
            for d in range(bottom, top + 1)
            for f in factors
            if lo <= math.log10(f * 10.0**d) <= hi
        ]
        if 2 <= len(ticks) <= most:
            return lo, hi, ticks
    decades = [d for d in range(bottom, top + 1) if lo <= d <= hi]
    if len(decades) >= 2:
        step = math.ceil(len(decades) / max(1, most))
        return lo, hi, [10.0**d for d in decades[::step]]
    return bottom, top, [10.0**bottom, 10.0**top]


def x_label(value: float) -> str:
    """Return a log tick's label: 0.01, 0.2, 5, 100, 1e4."""
    decade = round(math.log10(value))
    if math.isclose(value, 10.0**decade):
        return decade_label(value)
    return f"{value:.3f}".rstrip("0").rstrip(".") if value < 1 else f"{value:g}"


class Grid:
    """Rows of (character, style) cells."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells = [[(" ", "")] * width for _ in range(height)]

    def put(self, row: int, col: int, text: str, style: str = "") -> None:
        """Write `text` from (row, col), cut at the right edge."""
        for n, char in enumerate(text):
            if 0 <= row < self.height and 0 <= col + n < self.width:
                self.cells[row][col + n] = (char, style)

    def text(self) -> Text:
        """Return the grid as Rich text, one line per row."""
        out = Text()
        for number, row in enumerate(self.cells):
            if number:
                out.append("\n")
            for char, style in row:
                out.append(char, style)
        return out


def _spots(row: int, col: int, length: int) -> list[tuple[int, int]]:
    """Return where a label of `length` may start near a point at (row, col), best first: beside
    it, then a row or two above or below, ending at it, starting at it or centred on it."""
    spots = [(row, col + 2), (row, col - 1 - length)]
    for away in (1, 2, 3):
        for r in (row - away, row + away):
            spots += [(r, col + 1), (r, col - length), (r, col - length // 2)]
    return spots


def draw_model_plot(
    plot: ModelPlot, width: int, height: int, cursor: str | None = None, ascii_only: bool = False
) -> Text:
    """Return the plot as `height` lines of `width` cells: y title, the points over round ticks,
    the x axis and its title, and the key. `cursor` names the model marked and labelled."""
    marks = ASCII_MARKS if ascii_only else UNICODE_MARKS
    grid = Grid(width, height)
    grid.put(0, 0, printable(y_title(plot))[:width], "bold")
    key = _key_lines(plot, marks, width, "..." if ascii_only else "…")
    rows = height - 4 - len(key)  # y title; x axis, its ticks and title; the key
    if not plot.points or rows < 3 or width < 20:
        grid.put(2, 2, "no model to draw" if not plot.points else "(too small to draw)", "italic")
        return _styled_key(grid, key)
    values = [p.value for p in plot.points]
    yticks = even_ticks(min(values), max(values), max(1, (rows - 1) // 2))
    ystep = yticks[1] - yticks[0]
    labels = [tick_label(t, ystep) for t in yticks]
    left = max(len(label) for label in labels) + 1
    costs = [p.cost for p in plot.points]
    lo, hi, xticks = log_ticks(min(costs), max(costs), max(2, (width - left) // 8))
    right = len(x_label(xticks[-1])) // 2 + 1
    cols = width - left - right

    def col_of(cost: float) -> int:
        return left + round((math.log10(cost) - lo) / (hi - lo) * (cols - 1))

    def row_of(value: float) -> int:
        return 1 + round((yticks[-1] - value) / (yticks[-1] - yticks[0]) * (rows - 1))

    for tick, label in zip(yticks, labels, strict=True):
        grid.put(row_of(tick), 0, label.rjust(left - 1), "dim")
        grid.put(row_of(tick), left - 1, marks.axis_y, "dim")
    for row in range(1, rows + 1):
        if grid.cells[row][left - 1][0] == " ":
            grid.put(row, left - 1, marks.up, "dim")
    axis = rows + 1
    grid.put(axis, left - 1, marks.origin + marks.axis_x * (cols + right - 1), "dim")
    used = -1
    for tick in xticks:
        col, label = col_of(tick), x_label(tick)
        grid.put(axis, col, marks.tick_x, "dim")
        start = min(max(0, col - len(label) // 2), width - len(label))
        if start > used:
            grid.put(axis + 1, start, label, "dim")
            used = start + len(label)
    title = x_title(plot)
    grid.put(axis + 2, max(left, left + (cols - len(title)) // 2), title[: width - left], "bold")
    where = {p.name: (row_of(p.value), col_of(p.cost)) for p in plot.points}
    _draw_frontier(grid, plot, where, marks)
    taken = set(where.values())
    for point in sorted(plot.points, key=lambda p: p.frontier):
        row, col = where[point.name]
        grid.put(
            row,
            col,
            marks.front if point.frontier else marks.point,
            FRONT_STYLE if point.frontier else POINT_STYLE,
        )
    area = (1, rows, left, left + cols + right - 1)
    chosen = next((p for p in plot.points if p.name == cursor), None)
    if chosen is not None:
        row, col = where[chosen.name]
        grid.put(row, col, marks.cursor, CURSOR_STYLE)
        value = _value(plot, chosen)
        label = f"{printable(chosen.name)} {value}"
        if not _label(grid, row, col, label, taken, area, CURSOR_STYLE):  # no room: a shorter name
            room = width - len(y_title(plot)) - 5 - len(value)  # the title row: "title  ● NAME VALUE"
            ellipsis = "..." if ascii_only else "…"
            label = f"{short_name(printable(chosen.name), max(4, room), ellipsis)} {value}"
            if not _label(grid, row, col, label, taken, area, CURSOR_STYLE):  # still none: top right
                label = f"{marks.cursor} {label}"
                grid.put(0, max(len(y_title(plot)) + 2, width - len(label)), label, CURSOR_STYLE)
    return _styled_key(grid, key)


def _value(plot: ModelPlot, point: Point) -> str:
    """Return a point's metric with its unit: "80.86%", "37.0 AP"."""
    unit = UNITS.get(plot.metric.rpartition(" ")[2], "")
    return f"{point.value:.2f}{unit}" if unit == "%" else f"{point.value:.2f} {unit}".rstrip()


def _draw_frontier(grid: Grid, plot: ModelPlot, where: dict[str, tuple[int, int]], marks: Marks) -> None:
    """Draw the frontier as a staircase: across from each frontier model to the next one's
    cost, then up (down when lower is better) to it."""
    steps = [where[p.name] for p in plot.frontier]
    for (row, col), (row2, col2) in itertools.pairwise(steps):
        for c in range(col + 1, col2):
            grid.put(row, c, marks.across, LINE_STYLE)
        if row2 != row and col2 > col:
            grid.put(row, col2, marks.corner if row2 < row else marks.corner_down, LINE_STYLE)
        for r in range(min(row, row2) + 1, max(row, row2)):
            grid.put(r, col2, marks.up, LINE_STYLE)


def _label(
    grid: Grid,
    row: int,
    col: int,
    text: str,
    taken: set[tuple[int, int]],
    area: tuple[int, int, int, int],
    style: str,
) -> bool:
    """Write `text` next to the point at (row, col) where it covers no point and no other label,
    leaves a blank cell before any other point and stays inside `area` (top, bottom, left,
    right): first where it covers no frontier line either. Return whether it found room."""
    top, bottom, first, last = area
    spots = _spots(row, col, len(text))
    for clear, gap in ((True, True), (False, True), (False, False)):
        for r, c in spots:
            cells = {(r, c + n) for n in range(len(text))}
            near = (cells | {(r, c - 1), (r, c + len(text))}) - {(row, col)} if gap else cells
            if not (top <= r <= bottom and c >= first and c + len(text) - 1 <= last) or near & taken:
                continue
            if clear and any(grid.cells[r][cc][0] != " " for _, cc in cells):
                continue
            grid.put(r, c, text, style)
            taken.update(cells)
            return True
    return False


def _key_lines(plot: ModelPlot, marks: Marks, width: int, ellipsis: str) -> list[Text]:
    """Return the key: the marks, then how many models the plot leaves out and why (on a line
    of its own when both do not fit in `width`)."""
    key = Text()
    key.append(marks.point, POINT_STYLE)
    key.append(" model  ")
    key.append(marks.front, FRONT_STYLE)
    key.append(" Pareto frontier (nothing beats it)")
    lines = [key]
    if plot.reasons:
        left_out = Text(f"left out: {', '.join(f'{n} {why}' for why, n in plot.left_out.items())}", "yellow")
        if key.cell_len + 2 + left_out.cell_len <= width:
            key.append("; ")
            key.append_text(left_out)
        else:
            lines.append(left_out)
    for line in lines:
        if line.cell_len > width:
            line.truncate(max(0, width - len(ellipsis)))
            line.append(ellipsis)
    return lines


def _styled_key(grid: Grid, key: list[Text]) -> Text:
    """Return the grid's text with the key's lines, in their colours, as its last lines."""
    lines = list(grid.text().split("\n"))
    lines[len(lines) - len(key) :] = key
    return Text("\n").join(lines)
