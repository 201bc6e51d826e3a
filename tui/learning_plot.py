"""Plots of training insight (plotext), drawn by the CLI and the jobs screen alike: each block's
update-to-weight ratio over time, and several runs' validation curves overlaid."""

from __future__ import annotations

import math
from typing import Any

from tui.plot_key import COLORS, set_even_yticks

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


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Return decade ticks from `low` to `high`; the healthy band's edges are always among them,
    so the band's dashed lines sit on rows labelled 1e-4 and 1e-2."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    step = max(1, math.ceil((last - first) / 6))
    edges = [round(math.log10(edge)) for edge in HEALTHY]
    decades = sorted({d for d in range(first, last + 1) if (d - edges[0]) % step == 0} | set(edges))
    return [10.0**d for d in decades], [f"1e{d}" if d else "1" for d in decades]


def draw_update_ratios(plt: Any, blocks: dict[str, list[tuple[float, float, float | None]]],
                       marker: str = "braille") -> None:
    """Draw each block's ||Δw||/||w|| against epoch on a log scale, the healthy band dashed."""
    plt.clear_data()
    plt.title("update / weight per block (log); healthy band 1e-4..1e-2")
    plt.xlabel("epoch")
    values = [max(r, FLOOR) for points in blocks.values() for _, _, r in points if r is not None]
    if not values:
        return
    xs_all = [x for points in blocks.values() for x, _, _ in points]
    for number, points in enumerate(blocks.values()):
        xs = [x for x, _, r in points if r is not None]
        ys = [max(r, FLOOR) for _, _, r in points if r is not None]
        if xs:  # no legend over the data: curve_keys gives the key drawn under the plot
            plt.plot(xs, ys, color=COLORS[number % len(COLORS)], marker=marker)
    span = [min(xs_all), max(xs_all)] if max(xs_all) > min(xs_all) else [min(xs_all), min(xs_all) + 1]
    for edge in HEALTHY:
        plt.plot(span, [edge, edge], color="gray", marker="-")
    plt.yscale("log")
    plt.yticks(*_log_ticks(min(*values, HEALTHY[0]), max(*values, HEALTHY[1])))


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
