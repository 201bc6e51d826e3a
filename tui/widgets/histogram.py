"""A histogram of a layer's weights: plotext (textual-plotext), or plain ASCII with --ascii."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

from tui.format import human_count, short_float
from tui.guard import SafeRender


def ascii_histogram(counts: list[float], edges: list[float], width: int, height: int) -> str:
    """Return a histogram drawn with '#' columns, `height` rows, min/max edges below."""
    if not counts or width < 8 or height < 3:
        return ""
    columns = min(len(counts), width)
    step = len(counts) / columns
    merged = [sum(counts[int(i * step):int((i + 1) * step)]) for i in range(columns)]
    top = max(merged) or 1.0
    rows = height - 1
    lines = []
    for level in range(rows, 0, -1):
        lines.append("".join("#" if c / top * rows >= level - 0.5 and c > 0 else " "
                             for c in merged).rstrip())
    low, high = short_float(edges[0]), short_float(edges[-1])
    lines.append(low + " " * max(1, columns - len(low) - len(high)) + high)
    return "\n".join(lines)


def cached_plot_class() -> type:
    """Return a PlotextPlot that rebuilds its drawing only when the data, size or theme change."""
    from rich.text import Text
    from textual_plotext import PlotextPlot

    class CachedPlot(SafeRender, PlotextPlot):
        """A PlotextPlot whose last drawing is reused (plotext's build is slow)."""

        version = 0
        _cache: tuple[tuple[int, int, int, str], Text] | None = None

        def render(self) -> Text:
            key = (self.version, self.size.width, self.size.height, self.app.theme)
            if self._cache is None or self._cache[0] != key:
                self._cache = (key, super().render())
            return self._cache[1]

    return CachedPlot


class WeightHistogram(Container):
    """The distribution of a layer's weights (counts per bin)."""

    DEFAULT_CSS = """
    WeightHistogram { height: 12; }
    WeightHistogram > * { height: 1fr; }
    """

    def __init__(self, ascii_only: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ascii_only = ascii_only
        self._data: tuple[list[float], list[float], str] = ([], [], "")

    def compose(self) -> ComposeResult:
        """An ASCII drawing or a plotext plot."""
        if self.ascii_only:
            yield Static("", id="hist-ascii")
        # The plotext widget is mounted on the first `show`: importing it costs time that the
        # first frame should not wait for.

    def show(self, counts: list[float], edges: list[float], title: str = "") -> None:
        """Draw the histogram of `counts` over bin `edges`."""
        self._data = (counts, edges, title)
        self._draw()

    def on_resize(self) -> None:
        """Redraw at the new size."""
        if self.ascii_only:
            self._draw()

    def _draw(self) -> None:
        counts, edges, title = self._data
        if self.ascii_only:
            width, height = self.size.width, self.size.height
            text = ascii_histogram(counts, edges, width or 40, height or 10)
            self.query_one("#hist-ascii", Static).update(text or "(no weights)")
            return
        if not self.query("#hist-plot"):
            self.mount(cached_plot_class()(id="hist-plot"))
        plot: Any = self.query_one("#hist-plot")
        plot.version += 1
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if counts:
            centers = [(a + b) / 2 for a, b in pairwise(edges)]
            plt.bar(centers, counts, width=1.0, marker="hd")
            plt.title(title)
            ticks = [edges[0], (edges[0] + edges[-1]) / 2, edges[-1]]
            plt.xticks(ticks, [short_float(t) for t in ticks])
            top = max(counts)
            levels = [top * i / 4 for i in range(5)]
            plt.yticks(levels, [human_count(round(level)) for level in levels])
        else:
            plt.title("(no weights)")
        plot.refresh()
