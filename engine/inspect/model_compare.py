"""Models side by side before anything is downloaded: each one's catalog figures (params,
GFLOPs, file size, input size, metrics, categories, cached) and its input layer and head, read
from a build on the meta device."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import BadInput
from engine.models.figures import default_weights_of, task_metric

if TYPE_CHECKING:
    from torch import nn

MOST_COMPARED = 4
"""How many models fit side by side."""


@dataclass(frozen=True)
class ModelFigures:
    """What one model is and costs, from its catalog record and a meta-device build."""

    name: str
    task: str
    weights: str | None
    """The default weights' short name (None: the model has no pretrained weights)."""
    params: int | None
    gflops: float | None
    file_size_mb: float | None
    input_size: list[int] | None
    """The input the weights expect, batch 1: [1, 3, 224, 224]."""
    acc1: float | None
    acc5: float | None
    metric: str | None
    """The task's metric, "dataset metric" (e.g. "COCO-val2017 box_map")."""
    metric_value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    categories: int | None = None
    cached: bool = False
    input_layer: str | None = None
    """The layer the input enters first, e.g. "conv1: Conv2d(3, 64, 7x7, stride 2)"."""
    head: str | None = None
    """The head that predicts the categories, e.g. "fc: Linear(2048, 1000)"."""
    gflops_counted: bool = False
    """The GFLOPs were counted on the meta build (its weights' meta has none: timm, a file)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready data."""
        return asdict(self)


def layer_text(model: nn.Module, path: str | None) -> str | None:
    """Return `path: Type(in, out, kernel, stride)` for a layer of `model`, or None."""
    if path is None:
        return None
    module = model.get_submodule(path)
    kind = type(module).__name__
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return f"{path}: {kind}({module.in_features}, {module.out_features})"
    if hasattr(module, "in_channels") and hasattr(module, "out_channels"):
        parts = [str(module.in_channels), str(module.out_channels)]
        kernel = getattr(module, "kernel_size", None)
        if kernel:
            parts.append("x".join(str(k) for k in kernel))
        stride = getattr(module, "stride", None)
        if stride and any(s != 1 for s in stride):
            parts.append(f"stride {'x'.join(str(s) for s in set(stride))}")
        return f"{path}: {kind}({', '.join(parts)})"
    return f"{path}: {kind}"


def _head_text(model: nn.Module, input_size: tuple[int, ...] | None) -> str | None:
    """Return the head of a classifier, or the class predictor of a detection/segmentation model."""
    from engine.inspect.detection import detection_head, head_outputs
    from engine.inspect.heads import find_head

    path = find_head(model, input_size)
    if path is not None:
        return layer_text(model, path)
    path = detection_head(model)
    if path is None:
        return None
    return f"{path}: {type(model.get_submodule(path)).__name__} ({head_outputs(model, path)} classes)"


def counted_gflops(model: nn.Module, input_size: tuple[int, ...] | None) -> float | None:
    """Return the mult-adds (billions) of one forward pass of a meta-device `model` as torch's
    FlopCounterMode counts them (torchvision's own GFLOPs for its models), or None when it fails."""
    import torch

    from engine.inspect.flops import counting, mult_adds

    if input_size is None:
        return None
    try:
        with torch.no_grad(), counting() as counter:
            model.eval()(torch.empty(input_size, device="meta"))
    except (RuntimeError, TypeError, ValueError, AssertionError, NotImplementedError):  # no count on meta
        return None
    return round(mult_adds(counter) / 1e9, 3)


def model_figures(name: str) -> ModelFigures:
    """Return one model's figures: the catalog's for its default weights, the layers from a
    meta build (nothing is downloaded or read)."""
    from engine.inspect.heads import find_input_layer
    from engine.models.architecture import architecture
    from engine.models.catalog import model_info

    info = model_info(name)
    weights = default_weights_of(info)
    built = architecture(name, "default" if weights is not None else None)
    model = built.model
    params = (
        weights.params
        if weights is not None and weights.params is not None
        else sum(p.numel() for p in model.parameters())
    )
    measured = task_metric(weights) if weights is not None else None
    gflops = weights.gflops if weights else None
    counted = gflops is None
    if counted:
        gflops = counted_gflops(model, built.input_size)
    return ModelFigures(
        name=info.name,
        task=info.task,
        weights=weights.short_name if weights else None,
        params=params,
        gflops=gflops,
        file_size_mb=weights.file_size_mb if weights else None,
        input_size=list(built.input_size) if built.input_size else None,
        acc1=weights.acc1 if weights else None,
        acc5=weights.acc5 if weights else None,
        metric=measured[0] if measured else None,
        metric_value=measured[1] if measured else None,
        metrics=dict(weights.metrics) if weights else {},
        categories=weights.num_categories if weights else None,
        cached=bool(weights and weights.cached),
        input_layer=layer_text(model, find_input_layer(model)),
        head=_head_text(model, built.input_size),
        gflops_counted=counted and gflops is not None,
    )


def check_compared(names: list[str], most: int | None = MOST_COMPARED) -> None:
    """Raise BadInput unless `names` are 2 to `most` different models."""
    if len(names) < 2:
        raise BadInput(
            f"compare needs at least two models, got {len(names)}",
            "a comparison puts models side by side",
            "name two to four models",
        )
    if most is not None and len(names) > most:
        raise BadInput(
            f"compare shows at most {most} models side by side, got {len(names)}",
            "more columns do not fit a terminal",
            f"name {most} or fewer",
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadInput(
            f"{', '.join(repeated)} named twice", "each model is one column", "name each model once"
        )


def compare_models(names: list[str], most: int | None = MOST_COMPARED) -> list[ModelFigures]:
    """Return the figures of 2 to `most` models, in the order named (BadInput for a bad list or an
    unknown name, before anything is built)."""
    from engine.models.catalog import model_info

    check_compared(names, most)
    for name in names:
        model_info(name)  # an unknown name fails before any build
    return [model_figures(name) for name in names]
