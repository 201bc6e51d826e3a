"""The catalog's metric-against-cost plot as a widget, redrawn at its size on every render."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from tui.guard import SafeRender


class ModelPlotView(SafeRender, Widget):
    """Draws `plot` (an engine ModelPlot) with `cursor`'s model marked and named."""

    DEFAULT_CSS = """
    ModelPlotView {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plot: Any = None
        self.cursor: str | None = None

    def show(self, plot: Any, cursor: str | None) -> None:
        """Draw `plot` with `cursor`'s model highlighted."""
        self.plot, self.cursor = plot, cursor
        self.refresh()

    def render(self) -> Text:
        """The plot at the widget's size."""
        from tui.model_plot import draw_model_plot

        if self.plot is None:
            return Text("")
        return draw_model_plot(
            self.plot,
            self.size.width,
            self.size.height,
            self.cursor,
            ascii_only=getattr(self.app, "ascii_only", False),
        )
