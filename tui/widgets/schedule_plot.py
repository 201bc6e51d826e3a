"""The launch form's schedule preview: the lr of each parameter group over the run's epochs."""

from __future__ import annotations

from typing import Any

from tui.plot_key import color_of, even_ticks, set_even_yticks
from tui.widgets.fresh_plot import FreshPlot


class SchedulePlot(FreshPlot):
    """lr against epoch, one curve per distinct group lr, a key line under it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.xs: list[float] = []
        self.curves: dict[str, list[float]] = {}
        self.title = "lr schedule"
        self.epochs = 1

    def show(self, xs: list[float], curves: dict[str, list[float]], epochs: int, title: str) -> None:
        """Draw these curves (name -> lr at each x, in epochs, of a run of `epochs`) under `title`."""
        if (xs, curves, epochs, title) != (self.xs, self.curves, self.epochs, self.title):
            self.xs, self.curves, self.epochs, self.title = xs, curves, epochs, title
            self.refresh()

    def draw(self, plt: Any, marker: str) -> None:
        """Each curve in its colour, even round lr ticks, epochs along x."""
        plt.title(self.title)
        plt.xlabel("epoch")
        if not self.xs:
            return
        for number, ys in enumerate(self.curves.values()):  # the last update's lr lasts to the end
            plt.plot([*self.xs, self.epochs], [*ys, ys[-1]], color=color_of(number), marker=marker)
        ticks = [t for t in even_ticks(0, self.epochs, max(1, self.size.width // 10)) if t <= self.epochs]
        plt.xlim(0, self.epochs)
        plt.xticks(ticks, [f"{t:g}" for t in ticks])
        rows = self.size.height - (1 if self.keys() else 0)  # the key line takes a row
        set_even_yticks(plt, [y for ys in self.curves.values() for y in ys], rows)

    def keys(self) -> list[str]:
        """The curves' names (none for a single curve: the title says lr)."""
        return list(self.curves) if len(self.curves) > 1 else []
