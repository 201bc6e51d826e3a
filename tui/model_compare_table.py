"""Models side by side as a Rich table, one column per model and the best of each figure in
bold green: drawn by the catalog's compare screen and `ptm-tui models --compare` alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text

from engine.text import printable
from tui.format import human_count

BEST = "bold green"
Row = tuple[str, Callable[[Any], Any], Callable[[Any], str], int]
"""(label, the figure to compare, how it is shown, +1 when more is better / -1 when less / 0)."""


def _number(value: float | None, fmt: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def _gflops_text(figures: Any) -> str:
    """Return the GFLOPs, saying when they were counted on the meta build (not in the meta)."""
    return _number(figures.gflops, ".2f") + (" (counted)" if figures.gflops_counted else "")


def _metric_name(figures: Any) -> str:
    return (figures.metric or "").rpartition(" ")[2]


def _rows(models: list[Any], cached_mark: str) -> list[Row]:
    """Return the rows worth showing for these models (acc@1/acc@5 when one has them, the
    task's metric when one is measured otherwise)."""
    rows: list[Row] = [
        ("task", lambda f: None, lambda f: f.task, 0),
        ("weights", lambda f: None, lambda f: f.weights or "none", 0),
        ("params", lambda f: f.params, lambda f: human_count(f.params), -1),
        ("GFLOPs", lambda f: f.gflops, _gflops_text, -1),
        ("file size", lambda f: f.file_size_mb, lambda f: _number(f.file_size_mb, ".1f", " MB"), -1),
        (
            "input",
            lambda f: None,
            lambda f: "x".join(str(n) for n in f.input_size[1:]) if f.input_size else "-",
            0,
        ),
    ]
    if any(f.acc1 is not None for f in models):
        rows.append(("acc@1", lambda f: f.acc1, lambda f: _number(f.acc1, ".2f", "%"), 1))
        rows.append(("acc@5", lambda f: f.acc5, lambda f: _number(f.acc5, ".2f", "%"), 1))
    others = {f.metric for f in models if f.metric and _metric_name(f) != "acc@1"}
    if others:
        same = len({f.metric for f in models if f.metric}) == 1
        label = _metric_name(models[0]) if same else "metric"
        better = -1 if label in ("epe", "per_image_epe", "fl_all") else 1 if same else 0
        rows.append(
            (
                label,
                lambda f: f.metric_value,
                lambda f: (
                    "-"
                    if f.metric is None
                    else f"{f.metric_value:g}"
                    if same
                    else f"{_metric_name(f)} {f.metric_value:g}"
                ),
                better,
            )
        )
    rows += [
        ("categories", lambda f: None, lambda f: "-" if f.categories is None else str(f.categories), 0),
        ("cached", lambda f: None, lambda f: cached_mark if f.cached else "no", 0),
        ("input layer", lambda f: None, lambda f: printable(f.input_layer or "-"), 0),
        ("head", lambda f: None, lambda f: printable(f.head or "-"), 0),
    ]
    return rows


def compare_table(models: list[Any], cached_mark: str = "yes") -> Table:
    """Return the table of `models` (ModelFigures), one column each; the best params, GFLOPs,
    file size (least) and metrics (most, or least for an error) in bold green."""
    table = Table(box=None, show_header=True, header_style="bold cyan", pad_edge=False, expand=False)
    table.add_column("", style="bold", no_wrap=True)
    for figures in models:
        table.add_column(printable(figures.name), overflow="fold", ratio=1)
    for label, value, shown, better in _rows(models, cached_mark):
        numbers = [value(f) for f in models]
        known = [n for n in numbers if n is not None]
        best = (max(known) if better > 0 else min(known)) if better and len(known) > 1 else None
        cells = [
            Text(shown(f), style=BEST if best is not None and n == best else "")
            for f, n in zip(models, numbers, strict=True)
        ]
        table.add_row(label, *cells)
    return table
