"""The right-hand panel: repr, parameters, statistics, histogram and summary of one layer."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.format import UNICODE, Glyphs, human_count, short_float
from tui.messages import PanelData
from tui.widgets.histogram import WeightHistogram


def wide_enough(panel: VerticalScroll) -> bool:
    """Return whether the panel has room for every column of the parameter table."""
    return (panel.size.width or 80) >= 58


def histogram_title(data: PanelData) -> str:
    """Return the histogram's title: whose weights, and how many values the counts are out of."""
    name = data.path or "the model"
    if data.hist_values < data.value_count:  # counts are of a sample: say so, they are not totals
        # (the panel's first line names the layer; a longer title would not fit at 80 columns)
        return (f"sample of {human_count(data.hist_values)} of "
                f"{human_count(data.value_count)} weights")
    return f"weights of {name} ({data.value_count:,} values)"


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
        title = Text.assemble((path or "(model)", "bold"), "  ", (type_name, "italic"))
        # One line each (fixed height in the CSS): no layout pass on every cursor move.
        self.query_one("#layer-title", Static).update(title, layout=False)
        overflow = "crop" if self.ascii_only else "ellipsis"
        self.query_one("#layer-repr", Static).update(
            Text(repr_line, style="dim", no_wrap=True, overflow=overflow), layout=False)

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
            title = Text.assemble((data.path or "(model)", "bold"), "  ",
                                  (data.type_name, "italic"), "  ",
                                  (dtypes.pop() if len(dtypes) == 1 else "mixed dtypes", "dim"),
                                  (" on ", "dim"),
                                  (devices.pop() if len(devices) == 1 else "mixed devices", "dim"))
            self.query_one("#layer-title", Static).update(title, layout=False)
        self.query_one("#layer-stats", Static).update(self._stats_text(data.stats))
        hist = self.query_one("#layer-hist", WeightHistogram)
        hist.display = bool(data.hist_counts)
        if data.hist_counts:
            hist.show(data.hist_counts, data.hist_edges, histogram_title(data))

    def _params_table(self, data: PanelData) -> Table:
        table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="dim",
                      show_edge=False, expand=False)
        wide = wide_enough(self)
        columns = [("param", "left"), ("shape", "left"), ("dtype", "left"),
                   ("device", "left"), ("count", "right"), ("train", "left")]
        if not wide:  # narrow terminals: dtype and device are in the title line instead
            del columns[2:4]
        for label, justify in columns:
            table.add_column(label, justify=justify, no_wrap=True,
                             overflow="crop" if self.ascii_only else "ellipsis")
        # The name column gets what the others leave (each column plus a space between).
        others = [max([len(label), *(len(row[i]) for row in data.params)]) for label, i in
                  (("shape", 1), ("dtype", 2), ("device", 3))][: 3 if wide else 1]
        others.append(max([5, *(len(human_count(row[4])) for row in data.params)]))
        others.append(6 if any(not row[5] for row in data.params) else 5)
        width = self.query_one("#layer-params", Static).content_region.width or 40
        room = width - sum(others) - len(others) - 3
        longest = max(10, min(40, room))
        for name, shape, dtype, device, count, trainable in data.params:
            if len(name) > longest:  # keep the end of long paths: it names the tensor
                name = self.glyphs.ellipsis + name[-(longest - len(self.glyphs.ellipsis)):]
            cells = [name, shape, dtype, device, human_count(count),
                     Text("yes", style="green") if trainable else Text("frozen", style="cyan")]
            if not wide:
                del cells[2:4]
            table.add_row(*cells)
        if data.more_params:
            table.add_row(Text(f"... {data.more_params} more", style="dim"))
        return table

    def _stats_text(self, stats: Any) -> Table | Text:
        if stats is None:
            return Text("no parameters", style="dim")
        per_row = 3 if wide_enough(self) else 2
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
