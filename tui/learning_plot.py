"""Plots of training insight (plotext), drawn by the CLI and the jobs screen alike: each block's
update-to-weight ratio over time, and several runs' validation curves overlaid."""

from __future__ import annotations

import math
from typing import Any

from tui.plot_key import COLORS, data_rows, set_even_yticks, tick_room

HEALTHY = (1e-4, 1e-2)
"""engine.train.diagnostics.HEALTHY_UPDATE, here so that drawing needs no torch import."""
FLOOR = 1e-12
"""Smallest ratio drawn on the log axis (0 cannot be shown; such points sit on the floor)."""


def band(ratio: float | None) -> str:
    """Return where an update ratio sits against the healthy band: slow, ok, fast (- unknown)."""
    if ratio is None:
        return "-"
    if ratio < HEALTHY[0]:
        return "slow"
    return "fast" if ratio > HEALTHY[1] else "ok"


def bands_line(latest: dict[str, Any]) -> str:
    """Return the newest measurement's blocks outside the healthy band, as `ptm-tui layers`
    marks them: `slow (<1e-4): conv1, layer1; fast (>1e-2): fc` ('' when all are ok)."""
    found: dict[str, list[str]] = {"slow": [], "fast": []}
    for name, row in (latest.get("blocks") or {}).items():
        if row.get("trainable"):
            found.get(band(row.get("update_ratio")), []).append(name)
    parts = [f"slow (<1e-4): {', '.join(found['slow'])}" if found["slow"] else "",
             f"fast (>1e-2): {', '.join(found['fast'])}" if found["fast"] else ""]
    return "; ".join(part for part in parts if part)


def _log_ticks(low: float, high: float, rows: int) -> list[int]:
    """Return the decades ticked on the axis of a plot `rows` high, bottom to top:
    every step of 1 or 2 decades spans the same rows, the healthy band's edges are ticks, and a
    range too tall for the rows keeps its top (ratios below the bottom sit on the bottom row)."""
    edges = [round(math.log10(edge)) for edge in HEALTHY]
    top = max(math.ceil(math.log10(high)), edges[1])
    bottom = min(math.floor(math.log10(low)), edges[0])
    room = tick_room(rows)
    step = 1 if top - bottom <= room else 2
    top += (top - edges[0]) % step  # on the step's grid through the band's edges
    bottom -= (bottom - edges[0]) % step
    bottom = max(bottom, top - step * room)
    return list(range(bottom, top + 1, step))


def _set_log_yticks(plt: Any, low: float, high: float, rows: int) -> None:
    """Pin the log y axis of `plt` (a plot `rows` high) to decade ticks (see _log_ticks) evenly
    spaced on screen; the bottom tick reads `<=1e-N` when smaller ratios were raised onto it."""
    decades = _log_ticks(low, high, rows)
    bottom = decades[0]
    gaps = data_rows(rows) - 1
    per_step = max(1, gaps // max(1, len(decades) - 1))
    step = decades[1] - decades[0] if len(decades) > 1 else 1
    plt.ylim(bottom, bottom + step * gaps / per_step)  # plotext takes a log axis's limits in decades
    labels = [f"1e{d}" if d else "1" for d in decades]
    if low < 10.0**bottom:
        labels[0] = "<=" + labels[0]
    plt.yticks([10.0**d for d in decades], labels)


def draw_update_ratios(plt: Any, blocks: dict[str, list[tuple[float, float, float | None]]],
                       marker: str = "braille", rows: int = 14) -> None:
    """Draw each block's ||Δw||/||w|| against epoch on a log scale for a plot `rows` high, the
    healthy band dashed on the rows labelled 1e-4 and 1e-2."""
    plt.clear_data()
    plt.title("update / weight per block (log); healthy band 1e-4..1e-2")
    plt.xlabel("epoch")
    values = [max(r, FLOOR) for points in blocks.values() for _, _, r in points if r is not None]
    if not values:
        return
    low = min(values)
    bottom = _log_ticks(low, max(values), rows)[0]
    xs_all = [x for points in blocks.values() for x, _, _ in points]
    span = [min(xs_all), max(xs_all)] if max(xs_all) > min(xs_all) else [min(xs_all), min(xs_all) + 1]
    for edge in HEALTHY:  # first, so that a curve on a band's row is drawn over it
        plt.plot(span, [edge, edge], color="gray", marker="-")
    for number, points in enumerate(blocks.values()):
        xs = [x for x, _, r in points if r is not None]
        ys = [max(r, FLOOR, 10.0**bottom) for _, _, r in points if r is not None]
        if xs:  # no legend over the data: curve_keys gives the key drawn under the plot
            plt.plot(xs, ys, color=COLORS[number % len(COLORS)], marker=marker)
    plt.yscale("log")
    _set_log_yticks(plt, low, max(values), rows)


def draw_runs(plt: Any, curves: list[Any], metric: str = "val_acc", marker: str = "braille",
              rows: int = 14) -> None:
    """Draw several runs' `metric` (val_acc or val_loss) against epoch, one line each (no legend
    over the data: curve_keys gives the key under the plot), on even round y ticks for `rows`."""

    plt.clear_data()
    scores = list(dict.fromkeys(getattr(curve, "score", "accuracy") for curve in curves)) or ["accuracy"]
    plt.title(f"validation {' / '.join(scores)} (%)" if metric == "val_acc" else "validation loss")
    plt.xlabel("epoch")
    for number, curve in enumerate(curves):
        if curve.epochs:
            plt.plot(curve.epochs, getattr(curve, metric), color=COLORS[number % len(COLORS)],
                     marker=marker)
    set_even_yticks(plt, [y for c in curves if c.epochs for y in getattr(c, metric)], rows)
    longest = max([len(c.epochs) for c in curves] or [0])
    if longest:
        plt.xticks(list(range(1, longest + 1, max(1, math.ceil(longest / 10)))))


def render(draw: Any, *args: Any, width: int, height: int, color: bool) -> str:
    """Return what `draw(plt, *args)` draws as text (ANSI colours when `color`)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    draw(plt, *args)
    text = plt.build()
    if not color:
        text = plt.uncolorize(text)
    plt.clear_figure()
    return text
