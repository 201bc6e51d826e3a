"""The right-hand panel: repr, parameters, statistics, histogram and summary of one layer."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.format import UNICODE, Glyphs, human_count, short_float, short_path
from tui.messages import PanelData
from tui.widgets.cut_line import CutLine
from tui.widgets.histogram import WeightHistogram


def wide_enough(panel: VerticalScroll) -> bool:
    """Return whether the panel has room for every column of the parameter table."""
    return (panel.size.width or 80) >= 58


def histogram_title(data: PanelData, width: int = 80, ellipsis: str = "…") -> str:
    """Return the histogram's title in `width` cells: whose weights (the path cut in the middle
    when long), and how many values the counts are out of."""
    if data.hist_values < data.value_count:  # counts are of a sample: say so, they are not totals
        # (the panel's first line names the layer; a longer title would not fit at 80 columns)
        title = (f"sample of {human_count(data.hist_values)} of "
                 f"{human_count(data.value_count)} weights")
        return title if len(title) <= width else f"sample of {human_count(data.hist_values)}"
    count = f" ({data.value_count:,} values)"
    if len(f"weights of {data.path}{count}") > width:  # the path matters more than the digits
        count = f" ({human_count(data.value_count)})"
    name = data.path or "the model"
    for title in (f"weights of {name}{count}", f"{name}{count}"):
        if len(title) <= width:
            return title
    if width - len(count) >= 12:
        return short_path(name, width - len(count), ellipsis) + count
    return short_path(name, width, ellipsis)


class LayerPanel(VerticalScroll):
    """Details of the layer under the cursor; Tab focuses it, and j k g G scroll it (down to the
    histogram's axis and the summary line on a short terminal)."""

    can_focus = True

    def __init__(self, glyphs: Glyphs = UNICODE, ascii_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.glyphs = glyphs
        self.ascii_only = ascii_only
        self.path: str | None = None
        self.data: PanelData | None = None
        self._summary_line: Any = ...
        self._change_line: str | None = None

    def compose(self) -> ComposeResult:
        """Title, repr, parameter table, stats, histogram, summary."""
        yield Static("", id="layer-title")
        yield Static("", id="layer-repr")
        change = Static("", id="layer-change")  # shown once a comparison is loaded (D)
        change.display = False
        yield change
        yield Static("", id="layer-params")
        yield Static("", id="layer-stats")
        yield WeightHistogram(ascii_only=self.ascii_only, id="layer-hist")
        yield Static("", id="layer-summary")

    def show_header(self, path: str, type_name: str, repr_line: str) -> None:
        """Show what is cheap at once (called on every cursor move)."""
        self.path = path
        title = self._title(path, type_name)
        # One line each (fixed height in the CSS): no layout pass on every cursor move.
        self.query_one("#layer-title", Static).update(title, layout=False)
        self.query_one("#layer-repr", Static).update(
            CutLine(repr_line, self.glyphs.ellipsis, style="dim"), layout=False)

    def _title(self, path: str, type_name: str, where: str = "") -> Text:
        """The layer's path (cut in the middle when long), its type, and where its weights live
        while there is room."""
        width = self.query_one("#layer-title", Static).content_region.width or 80
        if where and len(path or "(model)") + len(type_name) + len(where) + 4 > width:
            where = ""
        room = max(8, width - len(type_name) - 2 - (len(where) + 2 if where else 0))
        title = Text.assemble((short_path(path, room, self.glyphs.ellipsis) or "(model)", "bold"),
                              "  ", (type_name, "italic"))
        if where:
            title.append(f"  {where}", "dim")
        return title

    def show_data(self, data: PanelData) -> None:
        """Show the parameter table, statistics and histogram computed by a worker."""
        if data.path != self.path:
            return
        self.data = data
        params = self.query_one("#layer-params", Static)
        params.update(self._params_table(data))
        params.display = bool(data.params)
        if data.params and not wide_enough(self):
            dtypes = {row[2] for row in data.params}
            devices = {row[3] for row in data.params}
            title = self._title(data.path, data.type_name,
                                f"{dtypes.pop() if len(dtypes) == 1 else 'mixed dtypes'} on "
                                f"{devices.pop() if len(devices) == 1 else 'mixed devices'}")
            self.query_one("#layer-title", Static).update(title, layout=False)
        self.query_one("#layer-stats", Static).update(self._stats_text(data.stats))
        hist = self.query_one("#layer-hist", WeightHistogram)
        hist.display = bool(data.hist_counts)
        if data.hist_counts:
            hist.show(data.hist_counts, data.hist_edges,
                      lambda width: histogram_title(data, width, self.glyphs.ellipsis))

    def _params_table(self, data: PanelData) -> Table:
        """The parameters: shapes and counts always whole; long names cut in the middle
        (`layer4.…conv1.weight`), and on a narrow panel dtype, device and then `train` go."""
        table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="dim",
                      show_edge=False, expand=False)
        # the panel's scrollbar may take two columns once the details overflow
        width = (self.query_one("#layer-params", Static).content_region.width or 40) - 2
        columns = [("param", "left", 0), ("shape", "left", 1), ("dtype", "left", 2),
                   ("device", "left", 3), ("count", "right", 4), ("train", "left", 5)]
        cells = {1: lambda row: row[1], 2: lambda row: row[2], 3: lambda row: row[3],
                 4: lambda row: human_count(row[4]),
                 5: lambda row: "yes" if row[5] else "frozen"}
        widths = {i: max([len(label), *(len(cells[i](row)) for row in data.params)])
                  for label, _, i in columns[1:]}
        shown = [c for c in columns if wide_enough(self) or c[2] not in (2, 3)]
        room = width - sum(widths[c[2]] + 2 for c in shown[1:])  # a column and its gap
        longest_name = max([len(row[0]) for row in data.params] or [0])
        if (room < 10 or longest_name > room) and any(c[2] == 5 for c in shown):
            # the names matter more: frozen ones are drawn in cyan instead
            shown = [c for c in shown if c[2] != 5]
            room = width - sum(widths[c[2]] + 2 for c in shown[1:])  # a column and its gap
        if room < 8:  # too narrow for a name beside its shape: a line each, nothing cut
            return self._params_lines(data, width)
        longest = min(40, room)
        for label, justify, i in shown:
            table.add_column(label, justify=justify, no_wrap=True, overflow="ellipsis",
                             min_width=widths[i] if i else None)
        for row in data.params:
            name = short_path(row[0], longest, self.glyphs.ellipsis)
            trainable = Text("yes", style="green") if row[5] else Text("frozen", style="cyan")
            values = {0: Text(name, style="" if row[5] else "cyan"), 1: row[1], 2: row[2],
                      3: row[3], 4: human_count(row[4]), 5: trainable}
            table.add_row(*(values[i] for _, _, i in shown))
        if data.more_params:
            table.add_row(Text(f"... {data.more_params} more", style="dim"))
        return table

    def _params_lines(self, data: PanelData, width: int) -> Table:
        """The parameters on a very narrow panel: the name on one line, shape and count below."""
        table = Table.grid()
        for name, shape, _dtype, _device, count, trainable in data.params:
            table.add_row(Text(short_path(name, width, self.glyphs.ellipsis),
                               style="bold" if trainable else "bold cyan"))
            table.add_row(Text.assemble("  ", shape, "  ", (human_count(count), "dim"),
                                        ("" if trainable else "  frozen", "cyan")))
        if data.more_params:
            table.add_row(Text(f"... {data.more_params} more", style="dim"))
        return table

    def _stats_text(self, stats: Any) -> Table | Text:
        if stats is None:
            return Text("no parameters", style="dim")
        width = self.size.width or 80
        per_row = 3 if wide_enough(self) else 2 if width >= 36 else 1
        grid = Table.grid(padding=(0, 1))
        for _ in range(per_row):
            grid.add_column(style="dim", justify="right", no_wrap=True)
            grid.add_column(style="bold", no_wrap=True)
        values = {key: short_float(float(getattr(stats, key))) for key in
                  ("mean", "std", "min", "max", "norm")}
        values["zeros"] = f"{stats.zero_count:,} ({100 * stats.zeros:.1f}%)"
        keys = ["mean", "std", "norm", "min", "max", "zeros"] if per_row == 3 else \
            ["mean", "std", "min", "max", "norm", "zeros"]
        for start in range(0, len(keys), per_row):
            grid.add_row(*[part for key in keys[start:start + per_row]
                           for part in (key, values[key])])
        nan, inf = stats.nan, stats.inf
        if nan or inf:
            alarm = Table.grid()
            alarm.add_row(grid)
            alarm.add_row(Text(f"{self.glyphs.alarm} {nan:,} NaN, {inf:,} Inf values in "
                               "these weights", style="bold white on red"))
            return alarm
        return grid

    def on_resize(self) -> None:
        """Lay the table out again for the new width."""
        if self.data is not None:
            self.show_data(self.data)

    def show_change(self, line: str | None) -> None:
        """Show how this layer changed against the loaded comparison (None hides the line)."""
        if line == self._change_line:
            return  # called on every cursor move: no repaint when nothing changed
        self._change_line = line
        change = self.query_one("#layer-change", Static)
        change.display = line is not None
        change.update(Text(line or "", style="magenta"))

    def show_summary(self, line: str | None) -> None:
        """Show the output shape and mult-adds line (or the hint to compute them)."""
        if line == self._summary_line and self._summary_line is not ...:
            return
        self._summary_line = line
        summary = self.query_one("#layer-summary", Static)
        if line is None:
            summary.update(Text("press s for output shapes and mult-adds", style="dim italic"))
        else:
            summary.update(Text(line))
