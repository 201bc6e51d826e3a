"""Explorer actions for the summary: output shapes and mult-adds of every layer, in a worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from tui.format import human_count
from tui.messages import SummaryReady
from tui.widgets.layer_panel import LayerPanel

if TYPE_CHECKING:
    from tui.screens.explorer import ExplorerScreen


class SummaryActions:
    """Explorer actions that compute and show the summary (mixed into ExplorerScreen).

    Relies on the explorer's `workbench`, `generation`, `summary`, `current_path` and `edit_busy()`.
    """

    def action_summary(self: ExplorerScreen) -> None:
        """Compute output shapes and mult-adds of every layer (in a worker)."""
        if self.edit_busy():
            return
        self.notify("computing the summary...", timeout=4)
        self.compute_summary(self.generation)

    @work(thread=True, exclusive=True, group="summary", exit_on_error=False, name="summary")
    def compute_summary(self: ExplorerScreen, generation: int) -> None:
        """Run engine.inspect.summary.summarize in a thread."""
        from engine.inspect.summary import summarize

        self.post_message(SummaryReady(summarize(self.workbench.model,
                                                 self.workbench.input_size), generation))

    def on_summary_ready(self: ExplorerScreen, message: SummaryReady) -> None:
        """Keep the summary and show the line of the current layer (unless an edit came since)."""
        if message.generation != self.generation:
            return
        self.summary = message.summary
        path = self.current_path
        if path is not None:
            self._show_summary_line(path)

    def _show_summary_line(self: ExplorerScreen, path: str) -> None:

        panel = self.query_one(LayerPanel)
        if self.summary is None:
            panel.show_summary(None)
            return
        row = self.summary.get(path)
        if row is None:
            panel.show_summary("not run in the forward pass (no output shape)")
            return
        shape = getattr(row, "output_shape", None)
        shape_text = "x".join(str(s) for s in shape) if isinstance(shape, (list, tuple)) else shape
        panel.show_summary(f"output {shape_text}  mult-adds {human_count(row.mult_adds)}")
