"""What a weights file says it is: the recipe that built the model, its class names and the
preprocessing it was trained with, saved beside the tensors so that nothing else is needed.

A meaning is plain data:
    recipe         {"model": {...}, "edit": [...]}: rebuilds the model's structure
    classes        ["cat", "dog", ...]: what each output of the head means
    resize         [side] (the shorter side, then a centre `crop`) or [height, width] (exact)
    crop           the centre crop's side, or None
    input_size     [channels, height, width] the model sees
    mean, std      per channel; interpolation ("bilinear", "bicubic"...); antialias

Where it is kept, so that every tool still reads the file as plain weights:
    a finetune checkpoint   its "meaning" entry (beside "model", "optimizer"...)
    a saved .pth/.pt        the state dict's `_metadata` under MEANING_KEY (torch keeps that
                            mapping for module versions; load_state_dict reads only its own keys)
    a saved .safetensors    the header's metadata under MEANING_KEY, as JSON
    an exported .safetensors  its "preprocessing" and "class_names" metadata (`ptm-tui export`)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MEANING_KEY = "ptm_tui_meaning"
MAX_HEADER = 100 << 20
"""safetensors' own limit on a header's size."""


def meaning_in(checkpoint: Any) -> dict[str, Any] | None:
    """Return the meaning inside a loaded checkpoint or state dict, or None when it has none."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("meaning"), Mapping):
        return dict(checkpoint["meaning"])
    metadata = getattr(checkpoint, "_metadata", None)
    if isinstance(metadata, Mapping) and isinstance(metadata.get(MEANING_KEY), Mapping):
        return dict(metadata[MEANING_KEY])
    return None


def safetensors_meaning(path: str | Path) -> dict[str, Any] | None:
    """Return the meaning in a .safetensors file's header (ours or an export's), or None.

    The header is read as the format lays it out (8 bytes of length, then JSON whose
    "__metadata__" maps text to text), so any file name works and no tensor is touched.
    """
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if not 2 <= length <= MAX_HEADER:
                return None
            metadata = json.loads(handle.read(length)).get("__metadata__") or {}
        if MEANING_KEY in metadata:
            found = json.loads(metadata[MEANING_KEY])
            return found if isinstance(found, dict) else None
        if "preprocessing" in metadata:
            return _from_export(json.loads(metadata["preprocessing"]),
                                json.loads(metadata.get("class_names") or "null"))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # says nothing, then
        return None
    return None


def _from_export(pre: dict[str, Any], classes: list[str] | None) -> dict[str, Any] | None:
    """Return the meaning of `ptm-tui export`'s preprocessing and class_names metadata."""
    resize = pre.get("resize")
    if resize is None or not pre.get("mean"):
        return None
    resize = [int(resize)] if isinstance(resize, int) else [int(v) for v in resize]
    side = pre.get("crop") or resize[-1]
    meaning: dict[str, Any] = {
        "resize": resize, "crop": pre.get("crop"), "mean": list(pre["mean"]),
        "std": list(pre["std"]), "input_size": [int(pre.get("channels", 3)), side, side],
        "interpolation": pre.get("interpolation", "bilinear"), "antialias": True}
    if classes:
        meaning["classes"] = [str(name) for name in classes]
    return meaning


def with_meaning(state_dict: dict[str, Any], meaning: dict[str, Any] | None) -> dict[str, Any]:
    """Return `state_dict` carrying `meaning` in its `_metadata` (for torch.save)."""
    if not meaning:
        return state_dict
    from collections import OrderedDict

    carried: OrderedDict[str, Any] = OrderedDict(state_dict)
    metadata = OrderedDict(getattr(state_dict, "_metadata", None) or {})
    metadata[MEANING_KEY] = json.loads(_json(meaning))  # plain types: weights_only reads them
    carried._metadata = metadata  # type: ignore[attr-defined]
    return carried


def safetensors_entry(meaning: dict[str, Any] | None) -> dict[str, str]:
    """Return the header metadata entry that carries `meaning` in a .safetensors file."""
    return {MEANING_KEY: _json(meaning)} if meaning else {}


def _json(meaning: dict[str, Any]) -> str:
    """Return `meaning` as JSON; anything JSON has no type for (a path, a dtype) as its text."""
    return json.dumps(meaning, default=str)


def meaning_in_words(meaning: dict[str, Any] | None) -> str:
    """Return what a meaning says in one line ("" for none): classes, input size, job."""
    if not meaning:
        return ""
    parts = []
    classes = meaning.get("classes") or []
    if classes:
        shown = ", ".join(str(c) for c in classes[:3]) + (", ..." if len(classes) > 3 else "")
        parts.append(f"{len(classes)} classes ({shown})")
    if meaning.get("input_size"):
        side = meaning["input_size"][-1]
        parts.append(f"{side} px input, {meaning.get('interpolation') or 'bilinear'}")
    if meaning.get("job"):
        parts.append(f"from job {meaning['job']}")
    return "the file says: " + "; ".join(parts) if parts else ""
