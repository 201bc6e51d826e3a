"""Explorer actions for the summary: output shapes and mult-adds of every layer, in a worker,
shown as a table (tui/screens/explore/summary.py) and as a line in the layer panel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from tui.format import human_count
from tui.messages import SummaryReady
from tui.widgets.layer_panel import LayerPanel

if TYPE_CHECKING:
    from tui.screens.explore.explorer import ExplorerScreen


class SummaryActions:
    """Explorer actions that compute and show the summary (mixed into ExplorerScreen).

    Relies on the explorer's `workbench`, `generation`, `summary`, `current_path` and `edit_busy()`.
    """

    summary_problem: str | None = None
    """Why the last summary failed (shown where its line goes until the next try)."""

    def action_summary(self: ExplorerScreen) -> None:
        """Show the summary table: output shapes, params and mult-adds of every layer (computed
        in a worker when the model changed since the last one)."""
        if self.edit_busy():
            return
        if self.summary is not None:
            self._open_summary()
            return
        self.notify("computing the summary...", timeout=4)
        self.summary_problem = None
        self.compute_summary(self.generation)

    @work(thread=True, exclusive=True, group="summary", exit_on_error=False, name="summary")
    def compute_summary(self: ExplorerScreen, generation: int) -> None:
        """Run engine.inspect.summary.summarize in a thread."""
        from engine.errors import BadInput
        from engine.inspect.meta import DEFAULT_INPUT
        from engine.inspect.summary import summarize, working_size

        model, size = self.workbench.model, self.workbench.input_size
        try:
            summary = summarize(model, size)
        except BadInput:
            # A model that does not say its input (your own module): take the first usual
            # size its forward accepts, as the CLI's message suggests, and keep it.
            works = working_size(model, DEFAULT_INPUT) if size is None else None
            if works is None:
                raise
            summary = summarize(model, works)
            self.workbench.input_size = works
            self.app.call_from_thread(
                self.notify, f"{self.model_name} does not say its input size: the summary "
                f"uses {'x'.join(map(str, works))}, the first usual size it accepts", timeout=8)
        self.post_message(SummaryReady(summary, generation))

    def on_summary_ready(self: ExplorerScreen, message: SummaryReady) -> None:
        """Keep the summary and show the line of the current layer (unless an edit came since)."""
        if message.generation != self.generation:
            return
        self.summary = message.summary
        path = self.current_path
        if path is not None:
            self._show_summary_line(path)
        self._open_summary()

    def _open_summary(self: ExplorerScreen) -> None:
        """Push the summary table, its cursor on the explorer's layer."""
        from engine.inspect.meta import DEFAULT_INPUT
        from tui.screens.explore.summary import SummaryScreen

        if self.summary is not None and self.app.screen is self:
            size = self.workbench.input_size or DEFAULT_INPUT  # what summarize ran on
            self.app.push_screen(SummaryScreen(self.model_name, self.summary, size,
                                               self.current_path))

    def summary_failed(self: ExplorerScreen, error: BaseException | None) -> None:
        """Say in the panel, where the summary line goes, why the summary failed."""
        from tui.screens.base import error_text

        self.summary_problem = f"summary failed: {error_text(error)}"
        self.query_one(LayerPanel).show_summary(self.summary_problem)

    def _show_summary_line(self: ExplorerScreen, path: str) -> None:

        panel = self.query_one(LayerPanel)
        if self.summary is None:
            panel.show_summary(self.summary_problem)  # None: the hint to press s
            return
        row = self.summary.get(path)
        if row is None:
            panel.show_summary("not run in the forward pass (no output shape)")
            return
        shape = getattr(row, "output_shape", None)
        shape_text = "x".join(str(s) for s in shape) if isinstance(shape, (list, tuple)) else shape
        panel.show_summary(f"output {shape_text}  mult-adds {human_count(row.mult_adds)}")
