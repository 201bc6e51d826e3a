"""Plots of training insight for the jobs screen: each block's update ratio, and runs overlaid."""

from __future__ import annotations

from typing import Any

from tui.learning_plot import draw_runs, draw_update_ratios
from tui.widgets.fresh_plot import FreshPlot


class LearningPlot(FreshPlot):
    """Each block's update-to-weight ratio over the job (log scale, healthy band drawn)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blocks: dict[str, list[tuple[float, float, float | None]]] = {}

    def show(self, blocks: dict[str, list[tuple[float, float, float | None]]]) -> None:
        """Draw these blocks' points if they differ from what is drawn."""
        if blocks != self.blocks:
            self.blocks = blocks
            self.refresh()

    def draw(self, plt: Any, marker: str) -> None:
        """Draw copies of the points (plotext transforms its data in place)."""
        draw_update_ratios(plt, {k: list(v) for k, v in self.blocks.items()}, marker,
                           rows=self.size.height)


class RunsPlot(FreshPlot):
    """Several jobs' validation curves (accuracy or loss) overlaid, a key line under them."""

    def __init__(self, metric: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metric = metric
        self.curves: list[Any] = []

    def show(self, curves: list[Any]) -> None:
        """Draw these RunCurves if they differ from what is drawn."""
        key = [c.to_dict() for c in curves]
        if key != [c.to_dict() for c in self.curves]:
            self.curves = curves
            self.refresh()

    def draw(self, plt: Any, marker: str) -> None:
        """Draw every run's curve."""
        draw_runs(plt, self.curves, self.metric, marker, rows=self.size.height - 1)

    def keys(self) -> list[str]:
        """The runs' settings that differ (lr=0.1), short enough for the key line under the plot
        to name every run at 80 columns; the line under the plots pairs them with the job ids."""
        return [curve.label.split(": ", 1)[1] if curve.settings else curve.job for curve in self.curves]
