"""The Jobs screen: every finetune job, the selected one's live loss/accuracy plots and log.

The screen only reads the job folders (status.json, metrics.jsonl, log.txt), so closing or
killing the TUI never touches a job, and a new `ptm-tui` shows it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, RichLog, Static

from engine.text import printable
from tui.plot_key import color_of, set_even_yticks
from tui.screens.base import PtmScreen
from tui.screens.jobs.jobs_insight import Insight, JobsInsight
from tui.widgets.fitted_table import FittedTable
from tui.widgets.fresh_plot import FreshPlot
from tui.widgets.keybar import KeyBar

LOG_LINES = 200
"""The log pane holds this many of the newest lines and shows the end of them."""
POLL_S = 0.5
"""Read the job files (and redraw what changed) at most this often."""
COLUMNS = ("job", "status", "epoch", "best val", "last val", "model")
"""In the order they matter: on a narrow terminal the table scrolls and the model goes first."""
STATUS_WIDTH = 24
"""A longer status (an unreadable status.json's reason) is cut here; the message line has it all."""


@dataclass
class JobView:
    """What the screen shows of the selected job: its metrics and the tail of its log."""

    job: str = ""
    steps: list[tuple[float, float]] = field(default_factory=list)
    """(epoch position, recent training loss) points."""
    epochs: list[dict[str, Any]] = field(default_factory=list)
    log: str = ""
    message: str = ""


def _pct(value: float | None) -> str:
    return f"{value:.2f}%" if isinstance(value, (int, float)) else "-"


def job_row(info: Any) -> tuple[Text, ...]:
    """Return a job's cells for the table."""
    epoch = f"{info.epoch}/{info.epochs or '?'}"
    if info.status == "running" and info.steps:
        epoch += f" ({info.step}/{info.steps})"
    model = info.model.rsplit("/", 1)[-1]  # "path/to/file.py:Class" -> "file.py:Class"
    status = info.status if len(info.status) <= STATUS_WIDTH else \
        info.status[:STATUS_WIDTH - 1] + "…"
    cells = (info.job, status, epoch, _pct(info.best_val_acc), _pct(info.last_val_acc), model)
    return tuple(Text(printable(cell)) for cell in cells)  # as written, controls stripped: no markup


def read_view(job_dir: str, job: str) -> JobView:
    """Return the selected job's plot points and log tail, read from its files."""
    from engine.jobs.store import job_info, read_metrics, tail_log

    view = JobView(job=job, log=tail_log(job_dir, LOG_LINES), message=job_info(job_dir).message)
    for record in read_metrics(job_dir):
        if record.get("kind") == "step" and record.get("steps"):
            x = int(record["epoch"]) - 1 + int(record["step"]) / int(record["steps"])
            view.steps.append((x, float(record["loss"])))
        elif record.get("kind") == "epoch":
            view.epochs.append(record)
    return view


def _per_epoch(epochs: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """Return (epochs, values) of `key` where the records have one (a detector has no val_loss
    or train_acc)."""
    pairs = [(float(r["epoch"]), float(r[key])) for r in epochs if r.get(key) is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


class MetricsPlot(FreshPlot):
    """A plotext plot of several named series, redrawn only when they change."""

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.series: list[tuple[str, list[float], list[float]]] = []

    def show(self, series: list[tuple[str, list[float], list[float]]]) -> None:
        """Draw these (label, xs, ys) series if they differ from what is drawn."""
        if series != self.series:
            self.series = series
            self.refresh()

    def draw(self, plt: Any, marker: str) -> None:
        """Draw copies of the series (plotext transforms its data in place)."""
        plt.title(self.title)
        plt.xlabel("epoch")
        for number, (_label, xs, ys) in enumerate(self.series):
            if xs:  # no legend over the data: keys() names the curves under the plot
                plt.plot(list(xs), list(ys), color=color_of(number), marker=marker)
        set_even_yticks(plt, [y for _, xs, ys in self.series if xs for y in ys], self.size.height - 1)

    def keys(self) -> list[str]:
        """The series' names for the key line under the plot."""
        return [label for label, _, _ in self.series]


class JobsScreen(JobsInsight, PtmScreen):
    """Every job with its state, epoch and best accuracy; the selected one plotted live."""

    DEFAULT_CSS = """
    JobsScreen #jobs-title { height: 1; padding: 0 1; background: $panel; text-wrap: nowrap;
                             text-overflow: ellipsis; }
    JobsScreen #jobs-table { height: auto; max-height: 8; }
    JobsScreen #jobs-plots { height: 2fr; min-height: 8; }
    JobsScreen #jobs-loss, JobsScreen #jobs-acc { width: 1fr; height: 1fr; }
    JobsScreen #jobs-learning, JobsScreen #jobs-runs-acc, JobsScreen #jobs-runs-loss {
        width: 1fr; height: 1fr; display: none; }
    JobsScreen #jobs-message { height: auto; max-height: 4; padding: 0 1; color: $warning; }
    JobsScreen #jobs-log { height: 1fr; min-height: 4; max-height: 14; padding: 0 1;
                           border-top: hkey $primary 40%; scrollbar-size-horizontal: 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "stop", "Stop job", id="jobs.stop"),
        Binding("r", "resume", "Resume job", id="jobs.resume"),
        Binding("escape", "close", "Back", id="jobs.close"),
        Binding("e", "evaluate", "Evaluate", id="jobs.eval"),
        Binding("o", "open_trained", "Open trained model", show=False, id="jobs.open"),
        Binding("l", "toggle_layers", "Layers", id="jobs.layers"),
        Binding("space", "mark", "Mark", show=False, id="jobs.mark"),
        Binding("c", "compare", "Compare", id="jobs.compare"),
        Binding("j", "move(1)", "Down", show=False, id="jobs.down"),
        Binding("k", "move(-1)", "Up", show=False, id="jobs.up"),
        Binding("g", "move_to(0)", "First", show=False, id="jobs.first"),
        Binding("G", "move_to(-1)", "Last", show=False, id="jobs.last"),
    ]

    def __init__(self, select: str | None = None) -> None:
        super().__init__()
        self.selected: str | None = select
        """The id of the job whose plots and log are shown."""
        self.jobs: dict[str, Any] = {}
        self.view = JobView()
        self._log_text = ""
        self.marked: list[str] = []
        """Jobs marked (space) for comparing (c)."""

    def compose(self) -> ComposeResult:
        """Title, job table, loss and accuracy plots, message, log tail, footer."""
        yield Static("Jobs: x stop, r resume, e evaluate, l layers, space mark, c compare",
                     id="jobs-title")
        with Vertical():
            yield FittedTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="jobs-plots"):
                yield MetricsPlot("loss", id="jobs-loss")
                yield MetricsPlot("accuracy (%)", id="jobs-acc")
                yield from self.insight_widgets()
            yield Static("", id="jobs-message")
            # wrapped, not cut: a log line's end (the error) matters most
            yield RichLog(id="jobs-log", wrap=True, markup=False, highlight=False, auto_scroll=True)
        yield KeyBar(first=("jobs.layers", "jobs.compare", "jobs.stop", "jobs.close"))

    def on_mount(self) -> None:
        """Set up the table and start polling the job files."""
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.poll()
        self.set_interval(POLL_S, self.poll)

    @work(thread=True, exclusive=True, group="jobs-poll", exit_on_error=False, name="read jobs")
    def poll(self) -> None:
        """Read every job's status and the selected job's files (in a thread)."""
        from engine.jobs.store import list_jobs

        jobs = list_jobs()
        selected = self.selected if any(j.job == self.selected for j in jobs) else \
            (jobs[-1].job if jobs else None)
        view = JobView()
        if selected is not None:
            info = next(j for j in jobs if j.job == selected)
            view = read_view(info.dir, selected)
        insight = self.read_insight(jobs, selected)
        self.app.call_from_thread(self._show, jobs, selected, view, insight)

    def _show(self, jobs: list[Any], selected: str | None, view: JobView, insight: Insight) -> None:
        """Put fresh data on screen, touching only what changed."""
        table = self.query_one(DataTable)
        self.jobs = {j.job: j for j in jobs}
        rebuilt = list(table.rows) != [j.job for j in jobs]
        if rebuilt:
            table.clear()
            for info in jobs:
                table.add_row(*self.row_cells(job_row(info)), key=info.job)
        else:
            for info in jobs:
                for column, value in zip(table.columns, self.row_cells(job_row(info))):
                    if table.get_cell(info.job, column) != value:
                        table.update_cell(info.job, column, value, update_width=True)
        if selected is not None and self.selected != selected:
            self.selected = selected
        if self.selected in self.jobs:
            row = table.get_row_index(self.selected)
            if rebuilt and table.cursor_row != row:
                table.move_cursor(row=row)
        self.view = view
        self._draw(view)
        self.draw_insight(insight)

    def _draw(self, view: JobView) -> None:
        xs = [x for x, _ in view.steps]
        ys = [y for _, y in view.steps]
        self.query_one("#jobs-loss", MetricsPlot).show([
            ("train (recent)", xs, ys),
            ("val", *_per_epoch(view.epochs, "val_loss")),
        ])
        score = self.query_one("#jobs-acc", MetricsPlot)
        said = view.epochs[-1].get("score") if view.epochs else None  # a task's own: "box mAP"
        score.title = f"{printable(said)[:40] if isinstance(said, str) and said else 'accuracy'} (%)"
        score.show([
            ("train", *_per_epoch(view.epochs, "train_acc")),
            ("val", *_per_epoch(view.epochs, "val_acc")),
        ])
        info = self.jobs.get(view.job)
        message = f"{view.job}: {info.status}" if info else "no jobs yet: press t in the explorer"
        if info is not None and info.message and (info.status != "running" or info.slurm):
            message += f": {info.message}"
        if info is not None and info.bad_images:
            message += (f" ({info.bad_images} unreadable image"
                        f"{'s' if info.bad_images != 1 else ''} skipped: the log names them)")
        self.query_one("#jobs-message", Static).update(Text(printable(message)))  # file text: no markup
        text = printable(view.log, newlines=True) or "(no log yet)"
        log = self.query_one("#jobs-log", RichLog)
        if text != self._log_text:
            self._log_text = text
            log.clear()
            for line in text.splitlines():
                log.write(Text(line))  # file text: no markup
            log.scroll_end(animate=False)
            # once more after the layout: the first scroll can land a line short at 80x24
            self.call_after_refresh(log.scroll_end, animate=False)

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _select(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self.poll()

    # --- actions ----------------------------------------------------------------------------

    def action_stop(self) -> None:
        """Ask the selected job to checkpoint and stop."""
        if self.selected:
            self._stop(self.selected)

    @work(thread=True, group="jobs-action", exit_on_error=False, name="job action")
    def _stop(self, job: str) -> None:
        from engine.jobs.launch import stop

        stop(job, say=lambda text: self.app.call_from_thread(self.notify, text))
        self.app.call_from_thread(self.notify, f"stopping {job}: it saves a checkpoint first")

    def action_resume(self) -> None:
        """Relaunch the selected job from its newest checkpoint."""
        if self.selected:
            self._resume(self.selected)

    @work(thread=True, group="jobs-action", exit_on_error=False, name="job action")
    def _resume(self, job: str) -> None:
        from engine.jobs.launch import resume

        resume(job)
        self.app.call_from_thread(self.notify, f"resumed {job}")

    def action_evaluate(self) -> None:
        """Show the selected job's accuracy and confusion matrix on its validation folder."""
        info = self.jobs.get(self.selected or "")
        if info is None:
            self.notify("no job selected", severity="warning")
            return
        from tui.screens.jobs.job_eval import JobEvalScreen

        self.app.push_screen(JobEvalScreen(info.job, info.dir))

    def action_open_trained(self) -> None:
        """Open the selected job's newest checkpoint in the explorer, as trained (p predicts
        with its class names and its training's preprocessing)."""
        info = self.jobs.get(self.selected or "")
        if info is None:
            self.notify("no job selected", severity="warning")
            return
        if not info.checkpoint:
            self.notify(f"job {info.job} has no checkpoint yet: it opens once it has trained a "
                        "step", severity="warning")
            return
        self.app.open_explorer(info.job)

    def action_move(self, rows: int) -> None:
        """Move the table's cursor down (or up) by `rows` (j/k)."""
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + rows)))

    def action_move_to(self, row: int) -> None:
        """Move the table's cursor to the first row, or the last for -1 (g/G)."""
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=row if row >= 0 else table.row_count - 1)

    def action_close(self) -> None:
        """Go back (the jobs keep running)."""
        self.app.pop_screen()
