"""A plotext plot drawn on a blank figure at every render, so no scale, tick or title of the
previous drawing (a log axis with no data left to scale) can break the next one."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual_plotext import PlotextPlot

from tui.guard import SafeRender


class FreshPlot(SafeRender, PlotextPlot):
    """Subclasses draw in `draw(plt, marker)`; a drawing plotext cannot build is shown as text."""

    def draw(self, plt: Any, marker: str) -> None:
        """Draw the plot's data on the blank figure `plt` with `marker`."""
        raise NotImplementedError

    def render(self) -> Any:
        """Clear the figure, draw, and build it; a failed build says so instead of ending the app."""
        self.plt.clear_figure()
        self.draw(self.plt, "*" if getattr(self.app, "ascii_only", False) else "braille")
        try:
            return super().render()
        except (TypeError, ValueError, ZeroDivisionError, IndexError) as error:
            self.log.error(f"plot {self.id}: {error!r}")
            return Text(f"(this plot could not be drawn: {error})")
