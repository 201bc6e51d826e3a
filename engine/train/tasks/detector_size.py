"""The image size a torchvision detector works at: min_size/max_size of its own transform
(GeneralizedRCNNTransform), set from a finetune's image_size, saved in the job's meaning and set
again on the trained model wherever it is used (predict, eval, export, actmap)."""

from __future__ import annotations

from typing import Any

from torch import nn


def _transform(model: nn.Module) -> Any:
    """Return the model's resizing transform, or None when it has none (not a detector)."""
    transform = getattr(model, "transform", None)
    return transform if hasattr(transform, "min_size") and hasattr(transform, "max_size") else None


def train_at(model: nn.Module, image_size: int) -> None:
    """Make `image_size` the detector's min_size, with max_size in the same proportion as before."""
    transform = _transform(model)
    if transform is None:
        return
    ratio = transform.max_size / max(transform.min_size)
    transform.min_size = (int(image_size),)
    transform.max_size = max(int(image_size), round(image_size * ratio))


def size_meaning(model: nn.Module) -> dict[str, Any]:
    """Return {min_size: [sides], max_size: side} of a detector (empty for other models)."""
    transform = _transform(model)
    if transform is None:
        return {}
    return {"min_size": [int(v) for v in transform.min_size], "max_size": int(transform.max_size)}


def use_trained_size(model: nn.Module, meaning: dict[str, Any] | None) -> bool:
    """Set the detector's min_size/max_size to those its training recorded in `meaning` (already
    checked by engine.models.weights.meaning_check); return True when they were set."""
    transform = _transform(model)
    if transform is None or not meaning or not meaning.get("min_size") or not meaning.get("max_size"):
        return False
    transform.min_size = tuple(int(v) for v in meaning["min_size"])
    transform.max_size = int(meaning["max_size"])
    return True
