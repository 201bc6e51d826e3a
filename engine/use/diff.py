"""What finetuning changed: two sets of weights compared layer by layer (relative change, cosine
similarity) over the learned parameters, buffers (running statistics) apart, and the tensors
only one of them has."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from engine.errors import BadInput

FROM_ZERO = "from zero"
"""The relative change of values that started at zero and moved (||A|| = 0)."""
RUNNING_STATISTICS = ("running_mean", "running_var")
"""Buffer names of torch's norm layers (BatchNorm, InstanceNorm): statistics, not learned."""


@dataclass
class LayerChange:
    """How one layer's tensors moved from A to B (its parameters, or its buffers, together)."""

    layer: str
    tensors: list[str]
    values: int
    relative_change: float
    """||B - A|| / ||A|| (0 when both are zero, inf when only A is zero: see from_zero)."""
    cosine: float | None
    """cos(A, B) over the layer's values; None when either is all zeros (no angle)."""
    change: float = 0.0
    """||B - A||: how far the values moved, also when they started at zero."""

    @property
    def from_zero(self) -> bool:
        """Return True when A is all zeros and B is not (no relative change to speak of)."""
        return math.isinf(self.relative_change)

    def relative_text(self, digits: int = 4) -> str:
        """Return the relative change in words: "from 0" where A was all zeros, else the number."""
        return "from 0" if self.from_zero else f"{self.relative_change:.{digits}g}"

    def to_dict(self) -> dict[str, Any]:
        """Return the change as plain data ("from zero" where A was all zeros and B is not)."""
        return {"layer": self.layer, "tensors": self.tensors, "values": self.values,
                "relative_change": FROM_ZERO if self.from_zero else self.relative_change,
                "change": self.change, "cosine": self.cosine}


@dataclass
class WeightsDiff:
    """The comparison of weights A and B: learned parameters, and buffers apart."""

    a: str
    b: str
    layers: list[LayerChange]
    """Each layer's learned parameters (weight, bias), in A's order."""
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    shape_differs: list[tuple[str, list[int], list[int]]] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    """Tensors in both that are not floating point (e.g. BatchNorm's num_batches_tracked)."""
    total: LayerChange | None = None
    """The whole model's learned parameters."""
    tensors: list[LayerChange] = field(default_factory=list)
    """Each compared tensor on its own (a layer's weight apart from its running statistics)."""
    buffers: list[LayerChange] = field(default_factory=list)
    """Each layer's floating-point buffers (BatchNorm's running mean and var), in A's order."""
    buffers_total: LayerChange | None = None
    buffer_names: set[str] = field(default_factory=set)
    """The compared tensors counted as buffers."""

    def to_dict(self) -> dict[str, Any]:
        """Return the comparison as plain data (the CLI's --json)."""
        def tensor(change: LayerChange) -> dict[str, Any]:
            kind = "buffer" if change.layer in self.buffer_names else "parameter"
            return {"tensor": change.layer, "kind": kind, **{k: v for k, v in change.to_dict().items()
                                                             if k not in ("layer", "tensors")}}

        return {"a": self.a, "b": self.b, "layers": [layer.to_dict() for layer in self.layers],
                "total": self.total.to_dict() if self.total else None,
                "buffers": [layer.to_dict() for layer in self.buffers],
                "buffers_total": self.buffers_total.to_dict() if self.buffers_total else None,
                "only_in_a": self.only_in_a, "only_in_b": self.only_in_b,
                "shape_differs": [{"tensor": n, "a": sa, "b": sb} for n, sa, sb in self.shape_differs],
                "not_compared": self.not_compared,
                "tensors": [tensor(t) for t in self.tensors]}


@dataclass
class _Sums:
    """Running sums over a layer's values: ||A||², ||B||², ||B-A||² and A·B, in float64."""

    a2: float = 0.0
    b2: float = 0.0
    d2: float = 0.0
    ab: float = 0.0
    values: int = 0
    tensors: list[str] = field(default_factory=list)

    def add(self, name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        a64, b64 = a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64)
        self.a2 += float((a64 * a64).sum())
        self.b2 += float((b64 * b64).sum())
        self.d2 += float(((b64 - a64) ** 2).sum())
        self.ab += float((a64 * b64).sum())
        self.values += a.numel()
        self.tensors.append(name)

    def merge(self, other: _Sums) -> None:
        self.a2 += other.a2
        self.b2 += other.b2
        self.d2 += other.d2
        self.ab += other.ab
        self.values += other.values
        self.tensors += other.tensors

    def change(self, layer: str) -> LayerChange:
        if self.a2 > 0:
            relative = math.sqrt(self.d2 / self.a2)
        else:
            relative = 0.0 if self.d2 == 0 else math.inf
        cosine = self.ab / math.sqrt(self.a2 * self.b2) if self.a2 > 0 and self.b2 > 0 else None
        if cosine is not None:
            cosine = max(-1.0, min(1.0, cosine))
        return LayerChange(layer, list(self.tensors), self.values, relative, cosine, math.sqrt(self.d2))


def layer_of(tensor: str) -> str:
    """Return the layer (module path) of a tensor name: "layer1.0.conv1.weight" -> "layer1.0.conv1"."""
    return tensor.rpartition(".")[0] or tensor


def is_buffer(tensor: str, buffers: Collection[str] = ()) -> bool:
    """Return True when `tensor` is a buffer: named so by the model, or a norm layer's statistics."""
    return tensor in buffers or tensor.rpartition(".")[2] in RUNNING_STATISTICS


def _comparable(old: Any, new: Any) -> bool:
    return isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor) and old.shape == new.shape \
        and old.is_floating_point() and new.is_floating_point()


def diff_weights(a: dict[str, Any], b: dict[str, Any], a_label: str = "A", b_label: str = "B",
                 buffers: Collection[str] = ()) -> WeightsDiff:
    """Return how each layer's parameters (and, apart, its buffers) changed from state dict `a`
    to `b`, in `a`'s order. `buffers`: names the models say are buffers (besides running stats)."""
    sums: dict[bool, dict[str, _Sums]] = {False: {}, True: {}}
    totals = {False: _Sums(), True: _Sums()}
    result = WeightsDiff(a_label, b_label, [])
    for name, old in a.items():
        if name not in b:
            result.only_in_a.append(name)
            continue
        new = b[name]
        if not (isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor)):
            continue
        if old.shape != new.shape:
            result.shape_differs.append((name, list(old.shape), list(new.shape)))
            continue
        if not _comparable(old, new):
            result.not_compared.append(name)
            continue
        buffer = is_buffer(name, buffers)
        if buffer:
            result.buffer_names.add(name)
        sums[buffer].setdefault(layer_of(name), _Sums()).add(name, old, new)
        totals[buffer].add(name, old, new)
        alone = _Sums()
        alone.add(name, old, new)
        result.tensors.append(alone.change(name))
    result.only_in_b = [name for name in b if name not in a]
    result.layers = [layer.change(path) for path, layer in sums[False].items()]
    result.buffers = [layer.change(path) for path, layer in sums[True].items()]
    result.total = totals[False].change("") if totals[False].values else None
    result.buffers_total = totals[True].change("") if totals[True].values else None
    return result


def changes_by_module(a: dict[str, Any], b: dict[str, Any],
                      buffers: Collection[str] = ()) -> dict[str, LayerChange]:
    """Return the change of every module path ("" is the whole model) over the learned parameters
    under it that both `a` and `b` hold with the same shape (buffers, as diff_weights says, apart)."""
    sums: dict[str, _Sums] = {}
    for name, old in a.items():
        new = b.get(name)
        if not _comparable(old, new) or is_buffer(name, buffers):
            continue
        alone = _Sums()
        alone.add(name, old, new)
        parts = name.split(".")[:-1]
        for depth in range(len(parts) + 1):
            sums.setdefault(".".join(parts[:depth]), _Sums()).merge(alone)
    return {path: total.change(path) for path, total in sums.items()}


class Weights(NamedTuple):
    """A state dict to compare, what it is in words, and the names its model says are buffers."""

    state: dict[str, Any]
    label: str
    buffers: frozenset[str] = frozenset()


def model_buffers(model: torch.nn.Module) -> frozenset[str]:
    """Return the names of the model's buffers as they appear in its state dict."""
    parameters = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    return frozenset(name for name in model.state_dict() if name not in parameters)


def load_weights(spec: str, progress: Any = None) -> Weights:
    """Return the weights `spec` names: a weights file or checkpoint (.pth, .pt, .safetensors,
    .bin), MODEL (its default pretrained weights) or MODEL@WEIGHTS (e.g. resnet50@IMAGENET1K_V2).

    A job folder is engine.jobs.job_weights' to read (its newest checkpoint, or its start).
    """
    from engine.models.weights.safe_load import read_state_dict

    path = Path(spec).expanduser()
    if path.is_dir():
        raise BadInput(f"{spec} is a folder", "only a job folder (with spec.toml) names weights",
                       "give a weights file, a checkpoint, a job folder or a model name")
    if path.is_file():
        return Weights(read_state_dict(path, mmap=True), str(path))
    from engine.models.loader import open_model

    name, _, weights = spec.partition("@")
    weights = weights or "default"
    if weights.lower() in ("none", "random"):
        raise BadInput(f"{spec} names no weights", "a random init is not weights to compare",
                       f"give {name} (its pretrained weights), a file, a checkpoint, or a job "
                       "alone (`ptm-tui diff JOB` compares its seeded start with its weights)")
    opened = open_model(name, weights=weights, device="cpu", progress=progress)
    if opened.source.startswith("random"):
        raise BadInput(f"{spec} has no pretrained weights here", f"it opened with {opened.source}",
                       "give a weights file, a checkpoint or MODEL@WEIGHTS")
    return Weights(opened.model.state_dict(), f"{name} ({opened.source})", model_buffers(opened.model))
