"""The catalog's models drawn: the task's metric against GFLOPs (or params, or file size) on a
log axis, the Pareto frontier, and the list's cursor model highlighted and named. Moving in the
list moves the highlight; enter opens; space marks models to compare."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from engine.models.figures import COSTS, default_weights_of, model_plot
from tui.format import distinct_short_names, human_count
from tui.screens.base import PtmScreen
from tui.screens.catalog.model_compare import compare_from, mark_on
from tui.widgets.keybar import KeyBar
from tui.widgets.model_plot_view import ModelPlotView
from tui.widgets.title import ScreenTitle


def tasks_by_count(models: list[Any]) -> list[str]:
    """Return the tasks of `models`, the most common first (catalog order breaks ties)."""
    counts = Counter(info.task for info in models)
    return sorted(counts, key=lambda task: -counts[task])


class CatalogPlotScreen(PtmScreen):
    """The plot beside the list of the models it draws."""

    DEFAULT_CSS = """
    #plot-models-list {
        width: 30%;
        min-width: 20;
        max-width: 34;
        height: 1fr;
    }
    #plot-models-status {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", priority=True, id="plot_models.open"),  # the list's own enter
        # would hide this one from the footer and the help
        Binding("space", "mark", "Mark", id="plot_models.mark"),
        Binding("c", "compare", "Compare marked", id="plot_models.compare"),
        Binding("x", "next_cost", "X axis", id="plot_models.cost"),
        Binding("t", "next_task", "Task", id="plot_models.task"),
        Binding("escape", "back", "Back", id="plot_models.back"),
    ]

    def __init__(
        self,
        models: list[Any],
        cursor: str | None,
        marked: list[str],
        open_model: Callable[[Any], None],
        described: str = "",
    ) -> None:
        super().__init__()
        self.models = list(models)
        self.marked = marked
        """The catalog's marked names (shared: marks made here show there)."""
        self.short_names: dict[str, str] = {}
        """Each listed name as the list shows it: cut to fit, no two alike."""
        self.open_model = open_model
        self.described = described
        """Which models these are, e.g. "matching 'resnet'"."""
        chosen = next((info for info in self.models if info.name == cursor), None)
        self.tasks = tasks_by_count(self.models)
        self.plot_task = chosen.task if chosen is not None else (self.tasks or ["classification"])[0]
        self.x_axis = "gflops"
        self.highlight = cursor
        self.listed: list[Any] = []
        self.plot: Any = None

    def compose(self) -> ComposeResult:
        """Title; the list beside the plot; the cursor model's figures; footer."""
        yield ScreenTitle("Plot models", id="plot-models-title")
        with Horizontal(id="plot-models-body"):
            table: DataTable = DataTable(id="plot-models-list", cursor_type="row", zebra_stripes=True)
            yield table
            with Vertical(id="plot-models-right"):
                yield ModelPlotView(id="plot-models-plot")
                yield Static("", id="plot-models-status")
        yield KeyBar()

    def on_mount(self) -> None:
        """Fill the list and draw."""
        self.query_one(DataTable).focus()
        self._redraw(list_again=True)

    def on_resize(self) -> None:
        """Fit the names to the list's new width."""
        self._redraw(list_again=True)

    def _redraw(self, list_again: bool = False) -> None:
        """Compute the plot of the task and cost chosen; refill the list when asked."""
        self.plot = model_plot(self.models, self.plot_task, self.x_axis)
        if list_again:
            self._fill_list()
        others = sum(self.plot.other_tasks.values())
        title = Text.assemble(
            ("Plot", "bold"),
            f" {self.plot_task}: {len(self.plot.points)} of {len(self.listed)} drawn",
            (f" {self.described}", "dim"),
        )
        if others:
            title.append(f"; +{others} of other tasks (t)")
        self.query_one("#plot-models-title", Static).update(title)
        self._show_cursor()

    def _fill_list(self) -> None:
        """List the task's models, the cursor kept on the same model."""
        table = self.query_one(DataTable)
        width = max(8, (table.size.width or 24) - 3)
        self.listed = [info for info in self.models if info.task == self.plot_task]
        table.clear(columns=True)
        table.add_column("model", key="name", width=width)
        names = [info.name for info in self.listed]
        shorts = distinct_short_names(names, width - 2, self.app.glyphs.ellipsis)
        self.short_names = dict(zip(names, shorts, strict=True))
        for info in self.listed:
            table.add_row(self._name_cell(info), key=info.name)
        if self.highlight in names:
            table.move_cursor(row=names.index(self.highlight))
        elif names:
            self.highlight = names[0]
            table.move_cursor(row=0)

    def _name_cell(self, info: Any) -> Text:
        """Return a list row: the mark, then the name cut to fit, told apart from the others."""
        marked = info.name in self.marked
        mark = Text(f"{self.app.glyphs.check} " if marked else "  ", style="bold green")
        return Text.assemble(mark, self.short_names[info.name])

    def _show_cursor(self) -> None:
        """Highlight the cursor's model and say its figures under the plot."""
        self.query_one(ModelPlotView).show(self.plot, self.highlight)
        self.query_one("#plot-models-status", Static).update(self._figures_line())

    def _figures_line(self) -> Text:
        """Return the cursor model's figures, or why it is not drawn."""
        info = next((i for i in self.listed if i.name == self.highlight), None)
        if info is None:
            return Text("no model of this task", style="italic")
        point = next((p for p in self.plot.points if p.name == info.name), None)
        weights = default_weights_of(info)
        text = Text(info.name, style="bold")
        if point is None:
            text.append(f"  not drawn: {self.plot.reasons.get(info.name, 'no figures')}", style="yellow")
            return text
        text.append(f"  {self.plot.metric.rpartition(' ')[2]} {point.value:.2f}")
        if point.frontier:
            text.append(" (frontier)", style="bold dark_orange")
        parts = [
            f"{weights.gflops:.2f} GFLOPs" if weights.gflops is not None else "",
            f"{human_count(weights.params)} params" if weights.params else "",
            f"{weights.file_size_mb:.1f} MB" if weights.file_size_mb is not None else "",
            "cached" if weights.cached else "not cached",
        ]
        text.append(self.app.glyphs.sep + self.app.glyphs.sep.join(p for p in parts if p), style="dim")
        return text

    @on(DataTable.RowHighlighted, "#plot-models-list")
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        """The highlight follows the list's cursor."""
        if 0 <= event.cursor_row < len(self.listed):
            self.highlight = self.listed[event.cursor_row].name
            self._show_cursor()

    @property
    def under_cursor(self) -> Any | None:
        """The listed model under the list's cursor now (keys act on it even before the
        highlight message has caught up with a fast typist)."""
        row = self.query_one(DataTable).cursor_row
        return self.listed[row] if 0 <= row < len(self.listed) else None

    @on(DataTable.RowSelected, "#plot-models-list")
    def action_open(self) -> None:
        """Open the cursor's model (as enter in the catalog does)."""
        info = self.under_cursor
        if info is not None:
            self.dismiss(None)
            self.open_model(info)

    def action_mark(self) -> None:
        """Mark the cursor's model for comparing (or unmark it)."""
        info = self.under_cursor
        if info is None or not mark_on(self, self.marked, info.name):
            return
        self.query_one(DataTable).update_cell(info.name, "name", self._name_cell(info))
        self.query_one("#plot-models-status", Static).update(self._figures_line())

    def action_compare(self) -> None:
        """Compare the marked models side by side."""
        compare_from(self, self.marked)

    def action_next_cost(self) -> None:
        """Draw against the next x axis: GFLOPs, parameters, file size."""
        keys = list(COSTS)
        self.x_axis = keys[(keys.index(self.x_axis) + 1) % len(keys)]
        self._redraw()

    def action_next_task(self) -> None:
        """Plot the next task's models (their own metric on y)."""
        if len(self.tasks) < 2:
            self.notify(f"every model listed is {self.plot_task}", timeout=3)
            return
        self.plot_task = (
            self.tasks[(self.tasks.index(self.plot_task) + 1) % len(self.tasks)]
            if self.plot_task in self.tasks
            else self.tasks[0]
        )
        self.highlight = None
        self._redraw(list_again=True)

    def action_back(self) -> None:
        """Back to the catalog."""
        info = self.under_cursor
        self.dismiss(info.name if info is not None else None)
