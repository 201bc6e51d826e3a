"""The figures that choose a model: each catalog model's task metric against a cost (GFLOPs,
parameters, file size), and the Pareto frontier of the models nothing beats. Plain data from the
catalog records, so the plot and the table show the same numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.errors import BadInput

METRIC_ORDER = ("acc@1", "kp_map", "box_map", "miou", "epe")
"""Which of a weights' `_metrics` is its task metric, first found wins (then the first reported):
a keypoint model's box mAP is on people only, so its keypoint mAP is its metric."""
LOWER_IS_BETTER = ("epe", "per_image_epe", "fl_all")
"""Metrics where a smaller number is better (optical flow's end-point error)."""

COSTS = {"gflops": "GFLOPs per image", "params": "parameters (millions)", "size": "weights file (MB)"}
"""The x axis choices: key -> what it counts, with its unit."""
COST_WORDS = {"gflops": "GFLOPs", "params": "parameter count", "size": "file size"}
"""How a missing cost is named ("no GFLOPs")."""


def default_weights_of(info: Any) -> Any | None:
    """Return the weights the catalog lists for a model (its default, else its last; what a plain
    `--weights default` uses), or None."""
    if not info.weights:
        return None
    return info.weights_named(info.default_weights) or info.weights[-1]


def task_metric(weights: Any) -> tuple[str, float] | None:
    """Return (metric name "dataset metric", value) of the weights' task metric, or None."""
    metrics = getattr(weights, "metrics", None) or {}
    for wanted in METRIC_ORDER:
        for key, value in metrics.items():
            if key.rpartition(" ")[2] == wanted:
                return key, value
    if getattr(weights, "acc1", None) is not None:
        return "acc@1", weights.acc1
    return next(iter(metrics.items()), None)


def lower_is_better(metric: str) -> bool:
    """Return whether a smaller value of `metric` ("dataset metric") is better."""
    return metric.rpartition(" ")[2] in LOWER_IS_BETTER


def cost_of(weights: Any, cost: str) -> float | None:
    """Return the weights' cost on the x axis `cost` (GFLOPs, millions of parameters, MB)."""
    if cost == "gflops":
        return weights.gflops
    if cost == "params":
        return None if weights.params is None else weights.params / 1e6
    return weights.file_size_mb


@dataclass(frozen=True)
class Point:
    """One model on the plot: its task metric against its cost."""

    name: str
    cost: float
    value: float
    cached: bool
    frontier: bool = False
    """Nothing on the plot costs less and scores at least as well."""


@dataclass
class ModelPlot:
    """The models of one task with their metric against a cost, and what was left out."""

    task: str
    metric: str
    """The y axis: "dataset metric", e.g. "ImageNet-1K acc@1"."""
    cost: str
    """The x axis: a key of COSTS."""
    points: list[Point] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    """The models of the task not drawn -> why ("without a metric", "no GFLOPs"...)."""
    other_tasks: dict[str, int] = field(default_factory=dict)
    """Models of other tasks that matched (another plot each) -> how many."""

    @property
    def lower_better(self) -> bool:
        """A smaller metric is better (the frontier runs along the bottom)."""
        return lower_is_better(self.metric)

    @property
    def frontier(self) -> list[Point]:
        """The Pareto frontier, cheapest first."""
        return sorted((p for p in self.points if p.frontier), key=lambda p: p.cost)

    @property
    def left_out(self) -> dict[str, int]:
        """Why models of the task are not drawn -> how many."""
        return dict(Counter(self.reasons.values()))

    def to_dict(self) -> dict[str, Any]:
        """Return the plot as JSON-ready data."""
        return {
            "task": self.task,
            "metric": self.metric,
            "cost": self.cost,
            "lower_is_better": self.lower_better,
            "points": [asdict(p) for p in self.points],
            "left_out": dict(self.reasons),
            "other_tasks": dict(self.other_tasks),
        }


def pareto_flags(points: list[tuple[float, float]], lower_better: bool = False) -> list[bool]:
    """Return, per (cost, value), whether no other point costs at most as much and scores at
    least as well while beating it in one of the two (the frontier nothing beats)."""
    sign = -1.0 if lower_better else 1.0
    flags = []
    for cost, value in points:
        beaten = any(
            c <= cost and sign * v >= sign * value and (c < cost or sign * v > sign * value)
            for c, v in points
        )
        flags.append(not beaten)
    return flags


def plot_task(models: list[Any]) -> str | None:
    """Return the task most of `models` have (the first listed wins a tie), or None when empty."""
    counts = Counter(info.task for info in models)
    return max(counts, key=lambda task: counts[task]) if counts else None


def other_measure(own: str, plotted: str) -> str:
    """Return why a model measured by `own` ("dataset metric") is left out of a plot of `plotted`:
    another metric, or the same one on another dataset (raft_small's epe on Sintel's training split)."""
    dataset, _, name = own.rpartition(" ")
    if name == plotted.rpartition(" ")[2] and dataset:
        return f"measured on {dataset}"
    return f"measured by {name}"


def model_plot(models: list[Any], task: str | None = None, cost: str = "gflops") -> ModelPlot:
    """Return the plot of `models` of `task` (default: the task most of them have): each one's
    task metric (the one most of them report) against `cost`, the frontier marked."""
    if cost not in COSTS:
        raise BadInput(f"unknown x axis {cost!r}", f"the choices are {', '.join(COSTS)}", "give one of them")
    task = task or plot_task(models) or "classification"
    own = [info for info in models if info.task == task]
    other = Counter(info.task for info in models if info.task != task)
    measured = {info.name: task_metric(w) for info in own if (w := default_weights_of(info))}
    names = Counter(m[0] for m in measured.values() if m is not None)
    metric = max(names, key=lambda n: names[n]) if names else "acc@1"
    reasons: dict[str, str] = {}
    kept = []
    for info in own:
        weights = default_weights_of(info)
        own_metric = measured.get(info.name)
        spent = cost_of(weights, cost) if weights is not None else None
        if weights is None or own_metric is None:
            reasons[info.name] = "without a metric"
        elif own_metric[0] != metric:
            reasons[info.name] = other_measure(own_metric[0], metric)
        elif spent is None or spent <= 0:
            reasons[info.name] = f"no {COST_WORDS[cost]}"
        else:
            kept.append((info.name, spent, own_metric[1], bool(weights.cached)))
    flags = pareto_flags([(c, v) for _, c, v, _ in kept], lower_is_better(metric))
    points = [Point(n, c, v, cached, flag) for (n, c, v, cached), flag in zip(kept, flags, strict=True)]
    return ModelPlot(task, metric, cost, points, reasons, dict(other))
