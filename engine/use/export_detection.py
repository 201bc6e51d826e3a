"""Exporting a torchvision detector: TorchScript by scripting (torchvision's own way: it returns
(losses, detections) and takes a list of images), safetensors for the weights; torch.export and
ONNX refused with the reason, since a detector's output has a size only the image decides."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput
from engine.use.export_outputs import METADATA_FILE, flat_outputs


def is_detector(model: nn.Module) -> bool:
    """Return True for a model that takes a list of images and returns a dict of boxes per image."""
    from engine.inspect.detection import is_detection_model

    return is_detection_model(model)


def refuse(model: nn.Module, fmt: str) -> None:
    """Raise BadInput when `fmt` cannot hold `model`'s detections (torch.export and ONNX)."""
    if fmt not in ("exported", "onnx"):
        return
    what = "a torch.export archive (.pt2)" if fmt == "exported" else "ONNX"
    raise BadInput(
        f"{type(model).__name__} is a detector, which ptm-tui cannot export as {what}",
        "a detector returns a different number of boxes for each image (a size only the data "
        f"decides), which torch.export{', the way to ONNX here,' if fmt == 'onnx' else ''} cannot trace",
        "use --format torchscript (scripted as torchvision does: import torchvision, torch.jit.load it, "
        "call it with a list of images) "
        "or --format safetensors (the weights: ptm-tui predict and eval run them with the job's recipe)",
    )


def write_scripted(model: nn.Module, _sample: torch.Tensor, path: Path, metadata: dict[str, str]) -> None:
    """Write the detector scripted (torch.jit.script) with the metadata inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated but still what C++/mobile load
        scripted = torch.jit.script(model)
        torch.jit.save(scripted, str(path), _extra_files={METADATA_FILE: json.dumps(metadata)})


def run_scripted(path: Path, batch: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, str]]:
    """Return the detections of the scripted file on the images of `batch`, flattened, and its
    metadata (a scripted detector returns (losses, detections))."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        with torch.no_grad():
            _losses, detections = loaded(list(batch))
    return flat_outputs(detections), json.loads(extra[METADATA_FILE] or "{}")


def detector_writer(model: nn.Module, fmt: str) -> tuple[Callable[..., None], Callable[..., Any]] | None:
    """Return (write, run) for a detector in `fmt` (None: the format's usual ones); raise BadInput
    for a format that cannot hold it."""
    if not is_detector(model):
        return None
    refuse(model, fmt)
    return (write_scripted, run_scripted) if fmt == "torchscript" else None
