"""Mult-adds as torch counts them (`FlopCounterMode`, FLOPs / 2), on meta, detection models included.

torch's counter knows convolutions, matmuls on token sequences and scaled-dot-product
attention, which torchinfo's per-layer estimate misses (a ViT's Linear layers run once per
token). Detection models decide at run time how many boxes survive (`nonzero`, NMS, `.item()`),
which meta tensors cannot answer; `every_box_survives` answers "all of them", so the heads run
on the most boxes the model is configured for (its RPN's `post_nms_top_n`, its
`detections_per_img`) and the count is an upper bound that needs no real data.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

_PATCH_LOCK = threading.RLock()


class _AllSurvive(TorchDispatchMode):
    """On meta tensors: every element is nonzero, NMS keeps every box, `.item()` reads 1."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        aten = torch.ops.aten
        first = args[0] if args else None
        if not (isinstance(first, torch.Tensor) and first.is_meta):
            return func(*args, **kwargs)
        if func is aten.nonzero.default:
            return torch.empty((first.numel(), first.dim()), dtype=torch.long, device="meta")
        if func is aten._local_scalar_dense.default:
            return True if first.dtype == torch.bool else 1
        if func is aten._unique2.default:  # batched NMS per class: treat all boxes as one class
            inverse = _flag(args, kwargs, 2, "return_inverse")
            counts = _flag(args, kwargs, 3, "return_counts")
            return (torch.empty((1,), dtype=first.dtype, device="meta"),
                    torch.empty(first.shape if inverse else (0,), dtype=torch.long, device="meta"),
                    torch.empty((1,) if counts else (0,), dtype=torch.long, device="meta"))
        if str(func) == "torchvision.nms.default":
            return torch.empty((first.shape[0],), dtype=torch.long, device="meta")
        return func(*args, **kwargs)


def _flag(args: Any, kwargs: dict[str, Any], index: int, name: str) -> bool:
    """Return a boolean argument given by position or by name."""
    return bool(args[index]) if len(args) > index else bool(kwargs.get(name, False))


def _keypoints_on_meta(original: Any) -> Any:
    """Wrap torchvision's keypointrcnn_inference: on meta, the right shapes without per-box loops.

    Real tensors (another thread predicting meanwhile) still go to the original.
    """

    def inference(logits: torch.Tensor, boxes: list[torch.Tensor]) -> Any:
        if not (isinstance(logits, torch.Tensor) and logits.is_meta):
            return original(logits, boxes)
        keypoints = logits.shape[1]  # logits: (all boxes, keypoints, height, width)
        points = [torch.empty((box.shape[0], keypoints, 3), device="meta") for box in boxes]
        scores = [torch.empty((box.shape[0], keypoints), device="meta") for box in boxes]
        return points, scores

    return inference


@contextlib.contextmanager
def every_box_survives(model: nn.Module) -> Iterator[None]:
    """Within the block, a meta forward pass of a detection model keeps every candidate box.

    `model` must be a throwaway copy: its transform stops pasting masks into the image
    (interpolation per box, no mult-adds), so the output holds the masks at 28x28.
    """
    transform = getattr(model, "transform", None)
    if transform is not None and hasattr(transform, "postprocess"):
        transform.postprocess = lambda result, *_sizes: result
    import torch.fx.experimental._config as fx_config

    try:
        from torchvision.models.detection import roi_heads
    except ImportError:  # pragma: no cover - torchvision is a dependency
        roi_heads = None
    with _PATCH_LOCK:
        keypoints = getattr(roi_heads, "keypointrcnn_inference", None)
        if keypoints is not None:
            roi_heads.keypointrcnn_inference = _keypoints_on_meta(keypoints)
        try:
            with fx_config.patch(meta_nonzero_assume_all_nonzero=True), _AllSurvive():
                yield
        finally:
            if keypoints is not None:
                roi_heads.keypointrcnn_inference = keypoints


def box_limits(model: nn.Module) -> str:
    """Return, in words, how many boxes a detection model's heads run on at most, or ""."""
    parts = []
    rpn = getattr(model, "rpn", None)
    post_nms = getattr(rpn, "_post_nms_top_n", None)
    if isinstance(post_nms, dict) and "testing" in post_nms:
        parts.append(f"{post_nms['testing']} proposals")
    heads = getattr(model, "roi_heads", model)
    detections = getattr(heads, "detections_per_img", None)
    if isinstance(detections, int):
        parts.append(f"{detections} detections")
    return " and ".join(parts)


@contextlib.contextmanager
def counting() -> Iterator[Any]:
    """Within the block, count FLOPs with torch's own counter; yields it (`mult_adds(counter)`)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        yield counter


def mult_adds(counter: Any) -> int:
    """Return the mult-adds a FlopCounterMode counted (FLOPs / 2)."""
    return int(counter.get_total_flops()) // 2
