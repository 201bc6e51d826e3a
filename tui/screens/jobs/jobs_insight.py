"""Jobs-screen views beyond loss and accuracy: how each layer learns (l), and several runs'
validation curves overlaid (space marks jobs, c compares them), labelled by what differs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from engine.text import printable
from tui.learning_plot import bands_line
from tui.plot_key import key_text
from tui.widgets.insight_plots import LearningPlot, RunsPlot

if TYPE_CHECKING:
    from tui.screens.jobs.jobs import JobsScreen

METRICS, LAYERS, COMPARE = "metrics", "layers", "compare"
MARK = "* "
"""Before a marked job's id in the table."""


@dataclass
class Insight:
    """What the insight views show, read in the poll thread."""

    blocks: dict[str, list[tuple[float, float, float | None]]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    curves: list[Any] = field(default_factory=list)
    latest: dict[str, Any] = field(default_factory=dict)
    """The newest per-layer measurement (its blocks' bands are shown as the CLI shows them)."""
    problem: str = ""


def layers_message(job: str | None, insight: Insight) -> Text:
    """The lines under the learning plot: what it shows, its key (the curves' colours), the
    blocks outside the healthy band and the flags, as `ptm-tui layers` reports them."""
    text = Text(f"{printable(job or '')}: update/weight per block (l: back to loss)")
    if not insight.blocks:
        text.append("\nno per-layer measurement yet (a few each epoch; diagnostics_every)")
    else:
        text.append("\n")
        text.append_text(key_text(list(insight.blocks)))
    verdict = [bands_line(insight.latest)] if insight.latest else []
    if insight.frozen:
        verdict.append(f"frozen: {', '.join(insight.frozen)}")
    verdict += [f"flag: {flag}" for flag in insight.flags]
    if insight.latest and not insight.flags:
        verdict.append("no flags")
    text.append(printable("\n" + "; ".join(part for part in verdict if part), newlines=True))
    return text


class JobsInsight:
    """Mixed into JobsScreen: the layers and compare views, and marking jobs."""

    plots_mode: str = METRICS
    marked: list[str]

    def insight_widgets(self) -> list[Any]:
        """The plots of the insight views (hidden until their view is chosen)."""
        return [LearningPlot(id="jobs-learning"), RunsPlot("val_acc", id="jobs-runs-acc"),
                RunsPlot("val_loss", id="jobs-runs-loss")]

    def row_cells(self: JobsScreen, cells: tuple[Text, ...]) -> tuple[Text, ...]:
        """Return a job's table cells with the mark before its id when it is marked."""
        if cells[0].plain not in self.marked:
            return cells
        return (Text.assemble(MARK, cells[0]), *cells[1:])

    def read_insight(self: JobsScreen, jobs: list[Any], selected: str | None) -> Insight:
        """Read what the current view needs from the job folders (in the poll thread)."""
        from engine.errors import PtmError

        insight = Insight()
        try:
            if self.plots_mode == LAYERS and selected is not None:
                from engine.jobs.learning import layer_history

                info = next(j for j in jobs if j.job == selected)
                history = layer_history(info.dir)
                insight.blocks, insight.flags, insight.frozen = (history.blocks, history.flags,
                                                                 history.frozen)
                insight.latest = history.latest
            elif self.plots_mode == COMPARE:
                from engine.jobs.compare import compare_runs

                insight.curves = compare_runs([j for j in self.marked if j in {i.job for i in jobs}])
        except PtmError as error:
            insight.problem = error.message
        return insight

    def draw_insight(self: JobsScreen, insight: Insight) -> None:
        """Show the chosen view's plots and say what it shows on the message line."""
        mode = self.plots_mode
        for widget_id, shown in (("#jobs-loss", mode == METRICS), ("#jobs-acc", mode == METRICS),
                                 ("#jobs-learning", mode == LAYERS),
                                 ("#jobs-runs-acc", mode == COMPARE),
                                 ("#jobs-runs-loss", mode == COMPARE)):
            self.query_one(widget_id).display = shown
        message = self.query_one("#jobs-message", Static)
        if mode == LAYERS:
            self.query_one(LearningPlot).show(insight.blocks)
            message.update(layers_message(self.selected, insight))
        elif mode == COMPARE:
            self.query_one("#jobs-runs-acc", RunsPlot).show(insight.curves)
            self.query_one("#jobs-runs-loss", RunsPlot).show(insight.curves)
            text = insight.problem or "; ".join(c.label for c in insight.curves)
            message.update(Text(printable(f"comparing (c: back): {text}")))

    def action_toggle_layers(self: JobsScreen) -> None:
        """Show how each block of the selected job learns, or go back to loss and accuracy."""
        self.plots_mode = METRICS if self.plots_mode == LAYERS else LAYERS
        self.poll()

    def action_mark(self: JobsScreen) -> None:
        """Mark (or unmark) the selected job for comparing."""
        if not self.selected:
            return
        if self.selected in self.marked:
            self.marked.remove(self.selected)
        else:
            self.marked.append(self.selected)
        self.poll()

    def action_compare(self: JobsScreen) -> None:
        """Overlay the marked jobs' validation curves, or go back to the selected job's plots."""
        if self.plots_mode == COMPARE:
            self.plots_mode = METRICS
        elif len(self.marked) < 2:
            self.notify("mark two or more jobs with space first", severity="warning", markup=False)
            return
        else:
            self.plots_mode = COMPARE
        self.poll()
