"""Save a model's weights as .pth (weights_only-loadable) or .safetensors, atomically."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.atomic import atomic_save, atomic_write
from engine.errors import BadInput
from engine.outputs import check_output_file, writing

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
WEIGHTS_SUFFIXES = (*TORCH_SUFFIXES, ".safetensors")
def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    meta = [key for key, tensor in state.items() if tensor.is_meta]
    if meta:
        raise BadInput(
            "cannot save weights that do not exist yet",
            f"{len(meta)} tensors are on the meta device (structure only), e.g. {meta[0]!r}",
            "open the model with weights (or on cpu) before saving",
        )
    return state


def _dedupe(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return (tensors with shared copies removed and made contiguous, alias -> kept name)."""
    kept: dict[tuple, str] = {}
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    for name, tensor in state.items():
        key = (
            (
                tensor.untyped_storage().data_ptr(),
                tensor.storage_offset(),
                tuple(tensor.shape),
                tensor.stride(),
                tensor.dtype,
            )
            if tensor.numel()
            else None
        )
        if key is not None and key in kept:
            aliases[name] = kept[key]
            continue
        if key is not None:
            kept[key] = name
        tensors[name] = (
            tensor.detach().to("cpu").contiguous().clone()
            if tensor.numel() and _shares_storage(tensor)
            else tensor.detach().to("cpu").contiguous()
        )
    return tensors, aliases


def _shares_storage(tensor: torch.Tensor) -> bool:
    """Tell whether a tensor is a view into a larger storage (safetensors refuses those)."""
    return tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size()


def save_weights(model: nn.Module, path: str | os.PathLike[str],
                 meaning: dict[str, Any] | None = None) -> Path:
    """Write the model's state dict to `path` (.pth/.pt/.bin/.safetensors) atomically; return it.

    `meaning` (the recipe, class names, preprocessing) goes inside the file where plain torch and
    safetensors ignore it (engine.models.weights.meaning), so the file stays plain weights.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in WEIGHTS_SUFFIXES:
        raise BadInput(
            f"cannot save weights as {target.name!r}",
            f"unknown file type {suffix or '(none)'!r}",
            "end the name with .pth or .safetensors",
        )
    check_output_file(target, "the weights file")
    state = _state(model)
    with writing(target):
        _write(state, target, suffix, meaning)
    return target


def _write(state: dict[str, torch.Tensor], target: Path, suffix: str,
           meaning: dict[str, Any] | None) -> None:
    """Write the state dict and its meaning to `target` in the format of `suffix`, atomically."""
    from engine.models.weights.meaning import safetensors_entry, with_meaning

    if suffix == ".safetensors":
        from safetensors.torch import save

        tensors, aliases = _dedupe(state)
        metadata = {"format": "pt", **safetensors_entry(meaning)}
        if aliases:
            metadata["ptm_tui_aliases"] = json.dumps(aliases)
        data = save(tensors, metadata=metadata)
        with atomic_write(target, "wb") as handle:
            handle.write(data)
    else:
        plain = OrderedDict((k, v.detach().to("cpu")) for k, v in state.items())
        plain._metadata = getattr(state, "_metadata", OrderedDict())  # type: ignore[attr-defined]
        atomic_save(with_meaning(plain, meaning), target)
