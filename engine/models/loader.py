"""Open a model with its weights, fast: build on meta, mmap the file, assign the tensors.

The plain way (build on cpu with random init, `torch.load`, `load_state_dict`) initialises
every parameter only to overwrite it, and reads the whole file into fresh memory. Here the
skeleton is built on meta (`engine.models.builders.empty_init`), the file is memory-mapped
(`weights_only=True`), and `load_state_dict(assign=True)` makes the mapped tensors the
parameters. Tensors a constructor computes (anchors, non-persistent buffers) are real already.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import torch
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.models import builders, catalog
from engine.models.timm_pretrained import weights_fields
from engine.models.weights import (
    CorruptCheckpoint,
    DownloadFailed,
    UnsafeCheckpoint,
    cached_file,
    download,
    file_name,
    hf,
    is_url,
    read_checkpoint,
    read_weights,
    strip_prefixes,
)
from engine.models.weights.checks import check_dtypes, is_weights_file, what_it_is
from engine.models.weights.folders import find_in_folder, find_on_path
from engine.models.weights.guidance import ways_on
from engine.models.weights.meaning import meaning_in

Progress = Callable[[int, int | None], None]
_WEIGHTS_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".tar", ".pkl")
_SHOW = 5


@dataclass
class OpenedModel:
    """A model ready to use, and where its weights came from."""

    model: nn.Module
    source: str
    """In words: "random init", "cached pretrained", "downloaded", "file" or "url"."""
    input_size: tuple[int, ...] | None
    """The input size with batch 1, e.g. (1, 3, 224, 224); None when unknown (user models)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The weights' meta: name, url, categories, transforms sizes, metrics (when known)."""
    weights_path: Path | None = None
    meaning: dict[str, Any] | None = None
    """What a weights file says it is (engine.models.weights.meaning): a finetune's or a saved
    model's recipe, class names and preprocessing."""


def open_model(name: str, weights: str | os.PathLike[str] | None = "none", device: str = "cpu",
               progress: Progress | None = None, cancel: threading.Event | None = None,
               offline: bool = False) -> OpenedModel:
    """Return model `name` on `device` with weights default, none, an enum name, a path or URL.

    A download it needs reports to `progress` and stops (leaving nothing) when `cancel` is set;
    `offline` refuses a named weights entry that is not on this machine instead of downloading it.
    """
    info = catalog.model_info(name)
    spec = "none" if weights is None else os.fspath(weights)
    if spec.lower() in ("none", "random", ""):
        model = catalog.build(name, device)
        default = catalog.resolve_weights(name, "default") if info.default_weights else None
        return OpenedModel(model, "random init", input_size_for(info, default, model))
    if spec.startswith("file://"):  # a local file is opened in place, never copied
        spec = url2pathname(urlparse(spec).path)
    if is_url(spec):
        cached = cached_file(spec)
        path = cached or download(spec, progress=progress, cancel=cancel)
        with _dropped_if_refused(None if cached else path):
            return _open_file(info, path, device, "url", {"url": spec})
    if _looks_like_path(spec, info):
        path = Path(spec).expanduser()
        if path.is_dir():  # a weights folder: the model's file is found by name
            return _open_from_folder(info, path, device)
        if not is_weights_file(path):
            raise BadInput(f"cannot open weights {spec}", what_it_is(path),
                           "give a weights file, a URL, default, none or a weights name")
        return _open_file(info, path, device, "file", {"file": str(path)})
    resolved = catalog.resolve_weights(name, spec)
    if resolved is None:  # pragma: no cover - "none" was handled above
        return open_model(name, "none", device)
    if resolved.url.startswith("hf://"):  # timm's weights, from the Hugging Face Hub
        return _open_timm(info, resolved, device, progress, cancel, offline)
    local = find_on_path(file_name(resolved.url))  # PTM_WEIGHTS_PATH comes before the network
    cached = local or cached_file(resolved.url)
    if cached is None and offline:
        raise _not_on_this_machine(info, resolved)
    path = cached or download(resolved.url, progress=progress, cancel=cancel)
    with _dropped_if_refused(None if cached else path):
        model = _load_pretrained(info, resolved, path, device)
    meta = resolved.to_dict(categories=True)
    source = "folder pretrained" if local else "cached pretrained" if cached else "downloaded"
    return OpenedModel(model, source, input_size_for(info, resolved, model), meta, path)


def _open_timm(info: catalog.ModelInfo, weights: catalog.WeightsInfo, device: str,
               progress: Progress | None, cancel: threading.Event | None,
               offline: bool = False) -> OpenedModel:
    """Return timm model `info` with its Hub weights: built on meta, the safetensors mmap'd."""
    repo = weights.url.removeprefix("hf://")
    local = _find_in_path_folders(weights.name)
    cached = local or hf.cached_hub_file(repo)
    if cached is None and offline:
        raise _not_on_this_machine(info, weights)
    path = cached or hf.hub_file(repo, progress=progress, cancel=cancel)
    skeleton = builders.build_timm(weights.name, "meta")
    state_dict = _read(path, mmap=True)

    def plain() -> nn.Module:  # timm's own loading (its filters and adaptations) from our file
        import timm

        return timm.create_model(weights.name, pretrained=True,
                                 pretrained_cfg_overlay={"file": str(path)})

    try:
        check_fit(skeleton, state_dict, info.name, path)
        skeleton.load_state_dict(state_dict, strict=True, assign=True)
    except BadInput:
        skeleton = plain()
    model = _finish(skeleton, info, path, device, plain)
    meta = {**weights.to_dict(), **weights_fields(weights.name, categories=True), "repo": repo}
    source = "folder pretrained" if local else "cached pretrained" if cached else "downloaded"
    return OpenedModel(model, source, input_size_for(info, weights, model), meta, path)


def _not_on_this_machine(info: catalog.ModelInfo, weights: catalog.WeightsInfo) -> DownloadFailed:
    """Return the error for weights opened offline whose file is in no cache or weights folder."""
    timm = weights.url.startswith("hf://")
    target = f"timm/{weights.name}" if timm else f"{info.name}.{weights.short_name}"
    return DownloadFailed(f"the weights {weights.short_name} of {info.name} are not on this machine",
                          "they were opened without downloading (nothing reaches the network "
                          "unless asked)",
                          f"ptm-tui download {target}; {ways_on()}")


def _find_in_path_folders(tagged: str) -> Path | None:
    """Return timm weights `arch.tag` from a PTM_WEIGHTS_PATH folder, or None."""
    for suffix in (".safetensors", ".pth", ".bin"):
        found = find_on_path(tagged + suffix)
        if found is not None:
            return found
    return None


def _open_from_folder(info: catalog.ModelInfo, folder: Path, device: str) -> OpenedModel:
    """Return the model with its file from `folder`: pretrained meta when it is an upstream file."""
    upstream = {file_name(w.url): w for w in info.weights}
    path = find_in_folder(folder, info.name, upstream)
    known = upstream.get(path.name)
    if known is None:
        return _open_file(info, path, device, "file", {"file": str(path)})
    model = _load_pretrained(info, known, path, device)
    return OpenedModel(model, "folder pretrained", input_size_for(info, known, model),
                       known.to_dict(categories=True), path)


@contextlib.contextmanager
def _dropped_if_refused(fetched: Path | None) -> Iterator[None]:
    """Delete a file just downloaded when reading it is refused, so the cache keeps no bad file."""
    try:
        yield
    except (UnsafeCheckpoint, CorruptCheckpoint):
        if fetched is not None:
            fetched.unlink(missing_ok=True)
        raise


def _looks_like_path(spec: str, info: catalog.ModelInfo) -> bool:
    """Return True when `spec` names a file rather than one of the model's weights."""
    if info.weights_named(spec) is not None:
        return False
    return (os.sep in spec or "/" in spec or spec.endswith(_WEIGHTS_SUFFIXES)
            or Path(spec).expanduser().exists())


def _load_pretrained(info: catalog.ModelInfo, weights: catalog.WeightsInfo, path: Path,
                     device: str) -> nn.Module:
    """Return torchvision model `info` built the way its `weights` need, with the file loaded."""
    enum = catalog.weights_enum(info.name, weights)
    quantized = info.task == "quantized"
    state_dict = _read(path, mmap=not quantized, quantized=quantized)
    served = builders.ServedStateDict(state_dict)
    served._metadata = getattr(state_dict, "_metadata", None)  # type: ignore[attr-defined]
    served.assign = not quantized  # quantized modules unpack their weights while loading
    served.check = _fit_checker(info.name, path)
    with builders.serve_weights(served):
        model = builders.build_torchvision(info.name, "cpu" if quantized else "meta", enum)
    return _finish(model, info, path, device, lambda: _plain_pretrained(info, weights, path))


def _open_file(info: catalog.ModelInfo, path: Path, device: str, source: str,
               meta: dict[str, Any]) -> OpenedModel:
    """Return model `info` with the weights in file `path` (any model kind)."""
    quantized = info.task == "quantized"
    state_dict, meaning = _read_weights(path, mmap=not quantized, quantized=quantized)
    candidates: list[catalog.WeightsInfo | None] = [None]
    default = catalog.resolve_weights(info.name, "default") if info.default_weights else None
    if default is not None:  # e.g. googlenet without aux heads, detection with frozen BN,
        candidates.append(default)  # a quantized model (built for real: it cannot be on meta)
    error: BadInput | None = None
    for arch in candidates:
        skeleton = catalog.build(info.name, "meta", weights=arch)
        try:
            check_fit(skeleton, state_dict, info.name, path)
        except BadInput as mismatch:
            error = error or mismatch
            continue
        real = quantized and arch is not None
        skeleton.load_state_dict(state_dict, strict=True, assign=not real)
        model = _finish(skeleton, info, path, device,
                        lambda arch=arch: _plain_file(info, arch, state_dict))
        meta = {**meta, **({"architecture": arch.name} if arch else {})}
        return OpenedModel(model, source, input_size_for(info, default, model), meta, path,
                           meaning)
    assert error is not None
    raise error


def _read(path: Path, mmap: bool, quantized: bool = False) -> dict[str, Any]:
    """Return the state dict in `path` (weights_only, memory-mapped when the file allows)."""
    return _read_weights(path, mmap, quantized)[0]


def _read_weights(path: Path, mmap: bool,
                  quantized: bool = False) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return (the state dict in `path`, what the file says it is), from one read."""
    if quantized:  # packed params are tuples and dtypes beside the tensors: keep the whole dict
        checkpoint = read_checkpoint(path, map_location="cpu", mmap=False)
        if isinstance(checkpoint, dict) and all(isinstance(k, str) for k in checkpoint):
            return strip_prefixes(checkpoint), meaning_in(checkpoint, path.name)
    return read_weights(path, map_location="cpu", mmap=mmap)


def _finish(model: nn.Module, info: catalog.ModelInfo, path: Path, device: str,
            plain: Callable[[], nn.Module]) -> nn.Module:
    """Return the loaded model on `device`, rebuilt the plain way if any tensor stayed on meta."""
    if builders.meta_tensors(model):
        model = plain()  # a constructor derived a tensor from a parameter; build it for real
        left = builders.meta_tensors(model)
        if left:
            raise WorkFailed(f"cannot open {info.name} with {path.name}",
                             f"tensors left without data: {', '.join(left[:_SHOW])}",
                             "open it with --weights none and load the file with load_partial")
    return model if device == "cpu" else model.to(device)


def _plain_pretrained(info: catalog.ModelInfo, weights: catalog.WeightsInfo,
                      path: Path) -> nn.Module:
    """Return the model built for real on cpu with the file copied in."""
    model = catalog.build(info.name, "cpu", weights=weights)
    model.load_state_dict(_read(path, mmap=False, quantized=info.task == "quantized"))
    return model


def _plain_file(info: catalog.ModelInfo, arch: catalog.WeightsInfo | None,
                state_dict: dict[str, Any]) -> nn.Module:
    """Return the model built for real on cpu with `state_dict` copied in."""
    model = catalog.build(info.name, "cpu", weights=arch)
    model.load_state_dict(state_dict)
    return model


def _fit_checker(name: str, path: Path) -> Callable[[nn.Module, dict[str, Any]], None]:
    """Return a check that a state dict fits a module, for `serve_weights`."""

    def check(module: nn.Module, state_dict: dict[str, Any]) -> None:
        check_fit(module, state_dict, name, path)

    return check


def check_fit(model: nn.Module, state_dict: dict[str, Any], name: str, path: Path | str) -> None:
    """Raise BadInput saying how many keys matched and which are missing, unless all fit."""
    expected = model.state_dict(keep_vars=True)
    counters = [k for k in expected if k.endswith("num_batches_tracked") and k not in state_dict]
    missing = [k for k in expected if k not in state_dict and k not in counters]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = []
    for key, tensor in expected.items():
        given = state_dict.get(key)
        if isinstance(tensor, torch.Tensor) and isinstance(given, torch.Tensor) \
                and tuple(given.shape) != tuple(tensor.shape):
            mismatched.append(f"{key} (file {_shape(given)}, model {_shape(tensor)})")
    if not (missing or unexpected or mismatched):
        check_dtypes(expected, state_dict, Path(path).name)
        for key in counters:  # older files lack batch norm's counter: start it at 0
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        return
    matched = len(expected) - len(missing) - len(mismatched) - len(counters)
    parts = [f"{matched} of {len(expected)} keys matched"]
    for label, items in (("missing", missing), ("mismatched", mismatched),
                         ("unexpected", unexpected)):
        if items:
            more = f" (+{len(items) - _SHOW} more)" if len(items) > _SHOW else ""
            parts.append(f"{label} {len(items)}: {', '.join(items[:_SHOW])}{more}")
    raise BadInput(f"{Path(path).name} does not fit {name}", "; ".join(parts),
                   "open the model these weights were saved from, or open this one with "
                   "--weights none and apply a load_partial edit")


def _shape(tensor: torch.Tensor) -> str:
    """Return a shape as 1000x2048."""
    return "x".join(str(n) for n in tensor.shape) or "scalar"


def input_size_for(info: catalog.ModelInfo, weights: catalog.WeightsInfo | None,
                   model: nn.Module | None = None) -> tuple[int, ...] | None:
    """Return a sensible input size with batch 1 for the model's task and weights' transforms."""
    if info.name.startswith("timm/") and model is not None:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        size = cfg.get("input_size")
        return (1, *size) if size else (1, 3, 224, 224)
    if info.task == "custom":
        return None
    fixed = getattr(model, "image_size", None)  # ViT/MaxViT are built for one size
    if isinstance(fixed, int) and info.task == "classification":
        return (1, 3, fixed, fixed)
    crop = (weights.crop_size if weights else None) or 224
    if info.task == "video":
        frames = (weights.min_temporal_size if weights else None) or 16
        return (1, 3, max(frames, 16), crop, crop)
    if info.task == "segmentation":
        side = (weights.resize_size if weights else None) or 520
        return (1, 3, side, side)
    if info.task == "detection":
        side = 320 if "320" in info.name else 300 if "ssd300" in info.name else 800
        return (1, 3, side, side)
    if weights and weights.min_size and weights.min_size[0] > crop:
        crop = weights.min_size[0]
    return (1, 3, crop, crop)
