"""What finetuning changed: two sets of weights compared layer by layer (relative change, cosine
similarity), and the tensors only one of them has."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.errors import BadInput


@dataclass
class LayerChange:
    """How one layer's tensors moved from A to B (all its floating-point tensors together)."""

    layer: str
    tensors: list[str]
    values: int
    relative_change: float
    """||B - A|| / ||A|| (0 when both are zero, inf when only A is zero)."""
    cosine: float | None
    """cos(A, B) over the layer's values; None when either is all zeros."""

    def to_dict(self) -> dict[str, Any]:
        """Return the change as plain data."""
        return {"layer": self.layer, "tensors": self.tensors, "values": self.values,
                "relative_change": self.relative_change, "cosine": self.cosine}


@dataclass
class WeightsDiff:
    """The comparison of weights A and B."""

    a: str
    b: str
    layers: list[LayerChange]
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    shape_differs: list[tuple[str, list[int], list[int]]] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    """Tensors in both that are not floating point (e.g. BatchNorm's num_batches_tracked)."""
    total: LayerChange | None = None
    tensors: list[LayerChange] = field(default_factory=list)
    """Each compared tensor on its own (a layer's weight apart from its running statistics)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the comparison as plain data (the CLI's --json)."""
        return {"a": self.a, "b": self.b, "layers": [layer.to_dict() for layer in self.layers],
                "total": self.total.to_dict() if self.total else None,
                "only_in_a": self.only_in_a, "only_in_b": self.only_in_b,
                "shape_differs": [{"tensor": n, "a": sa, "b": sb} for n, sa, sb in self.shape_differs],
                "not_compared": self.not_compared,
                "tensors": [{"tensor": t.layer, "values": t.values, "relative_change": t.relative_change,
                             "cosine": t.cosine} for t in self.tensors]}


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
        return LayerChange(layer, list(self.tensors), self.values, relative, cosine)


def layer_of(tensor: str) -> str:
    """Return the layer (module path) of a tensor name: "layer1.0.conv1.weight" -> "layer1.0.conv1"."""
    return tensor.rpartition(".")[0] or tensor


def diff_weights(a: dict[str, Any], b: dict[str, Any], a_label: str = "A",
                 b_label: str = "B") -> WeightsDiff:
    """Return how each layer changed from state dict `a` to `b`, in `a`'s order."""
    layers: dict[str, _Sums] = {}
    total = _Sums()
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
        if not (old.is_floating_point() and new.is_floating_point()):
            result.not_compared.append(name)
            continue
        layers.setdefault(layer_of(name), _Sums()).add(name, old, new)
        total.add(name, old, new)
        alone = _Sums()
        alone.add(name, old, new)
        result.tensors.append(alone.change(name))
    result.only_in_b = [name for name in b if name not in a]
    result.layers = [sums.change(layer) for layer, sums in layers.items()]
    result.total = total.change("") if total.values else None
    return result


def changes_by_module(a: dict[str, Any], b: dict[str, Any]) -> dict[str, LayerChange]:
    """Return the change of every module path ("" is the whole model) over the tensors under it
    that both `a` and `b` hold with the same shape."""
    sums: dict[str, _Sums] = {}
    for name, old in a.items():
        new = b.get(name)
        if not (isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor)) \
                or old.shape != new.shape or not (old.is_floating_point() and new.is_floating_point()):
            continue
        alone = _Sums()
        alone.add(name, old, new)
        parts = name.split(".")[:-1]
        for depth in range(len(parts) + 1):
            sums.setdefault(".".join(parts[:depth]), _Sums()).merge(alone)
    return {path: total.change(path) for path, total in sums.items()}


def newest_checkpoint(job_dir: Path) -> Path:
    """Return the newest checkpoint file of a job folder, or raise BadInput."""
    found = sorted((job_dir / "checkpoints").glob("epoch-*.pt"))
    if not found:
        raise BadInput(f"job {job_dir.name} has no checkpoint yet", "nothing has been saved",
                       "wait for its first epoch to finish")
    return found[-1]


def load_weights(spec: str, progress: Any = None) -> tuple[dict[str, Any], str]:
    """Return (state dict, a label) of what `spec` names.

    A weights file or checkpoint (.pth, .pt, .safetensors, .bin), a job folder (its newest
    checkpoint), MODEL (its default pretrained weights) or MODEL@WEIGHTS (e.g. resnet50@IMAGENET1K_V2).
    """
    from engine.models.weights.safe_load import read_state_dict

    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "spec.toml").is_file():
            raise BadInput(f"{spec} is a folder", "only a job folder (with spec.toml) names weights",
                           "give a weights file, a checkpoint, a job folder or a model name")
        path = newest_checkpoint(path)
    if path.is_file():
        return read_state_dict(path, mmap=True), str(path)
    from engine.models.loader import open_model

    name, _, weights = spec.partition("@")
    weights = weights or "default"
    if weights.lower() in ("none", "random"):
        raise BadInput(f"{spec} names no weights", "a random init is not weights to compare",
                       f"give {name} (its pretrained weights), a file or a checkpoint")
    opened = open_model(name, weights=weights, device="cpu", progress=progress)
    if opened.source.startswith("random"):
        raise BadInput(f"{spec} has no pretrained weights here", f"it opened with {opened.source}",
                       "give a weights file, a checkpoint or MODEL@WEIGHTS")
    return opened.model.state_dict(), f"{name} ({opened.source})"
