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

    def keys(self) -> list[str]:
        """The curves' names for the key line under the plot, in colour order (none: no key)."""
        return []

    def render(self) -> Any:
        """Clear the figure, draw, and build it with the key line under it; a failed build says so
        instead of ending the app."""
        self.plt.clear_figure()
        self.draw(self.plt, "*" if getattr(self.app, "ascii_only", False) else "braille")
        keys = self.keys()
        try:
            if not keys:
                return super().render()
            from tui.plot_key import key_text

            width, height = self.size.width, max(1, self.size.height - 1)
            self._plot.plotsize(width, height)  # as PlotextPlot.render, one row left for the key
            self._plot._set_size(width, height)
            self._plot.theme(self._get_plotext_theme_name(self.app.theme))
            plot = Text.from_ansi(self._plot.build().rstrip("\n"))
            key = key_text(keys)
            key.truncate(width, overflow="ellipsis")  # one row, however many curves
            return Text("\n").join([plot, key])
        except (TypeError, ValueError, ZeroDivisionError, IndexError) as error:
            self.log.error(f"plot {self.id}: {error!r}")
            return Text(f"(this plot could not be drawn: {error})")
