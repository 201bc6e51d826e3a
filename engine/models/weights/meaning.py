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
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.models.weights.meaning_check import MAX_DEPTH, MAX_TEXT, bad, check_meaning

MEANING_KEY = "ptm_tui_meaning"
MAX_HEADER = 100 << 20
"""safetensors' own limit on a header's size."""


def meaning_in(checkpoint: Any, where: str = "the weights file") -> dict[str, Any] | None:
    """Return the meaning inside a loaded checkpoint or state dict (checked), or None when it has
    none; BadMeaning names a bad key."""
    said = checkpoint.get("meaning") if isinstance(checkpoint, Mapping) else None
    if said is not None and not type(said).__module__.startswith("torch"):  # not a tensor
        return check_meaning(said, where)
    metadata = getattr(checkpoint, "_metadata", None)
    if isinstance(metadata, Mapping) and metadata.get(MEANING_KEY) is not None:
        return check_meaning(metadata[MEANING_KEY], where)
    return None


def safetensors_meaning(path: str | Path) -> dict[str, Any] | None:
    """Return the meaning in a .safetensors file's header (ours or an export's, checked), or None.

    The header is read as the format lays it out (8 bytes of length, then JSON whose
    "__metadata__" maps text to text), so any file name works and no tensor is touched.
    """
    where = Path(path).name
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if length < 2 or length > os.fstat(handle.fileno()).st_size - 8:
                return None  # not a safetensors file at all: reading its tensors says so
            if length > MAX_HEADER:
                raise bad(where, "header", f"at most {MAX_HEADER >> 20} MB (safetensors' limit)",
                          f"{length:,} bytes")
            header = _json_of(handle.read(length), where, "header", MAX_HEADER)
    except OSError:  # unreadable: reading its tensors says why
        return None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        return None
    if MEANING_KEY in metadata:
        return check_meaning(_json_of(metadata[MEANING_KEY], where, MEANING_KEY), where)
    if "preprocessing" in metadata:
        return _from_export(_json_of(metadata["preprocessing"], where, "preprocessing"),
                            _json_of(metadata.get("class_names") or "null", where, "class_names"),
                            where)
    return None


def _json_of(text: Any, where: str, key: str, limit: int = MAX_TEXT) -> Any:
    """Return the JSON value in `text` (bytes or str); BadMeaning when it is not JSON, is longer
    than `limit` or nests too deeply to read."""
    if not isinstance(text, (str, bytes)) or len(text) > limit:
        shown = f"{len(text):,} characters" if isinstance(text, (str, bytes)) else type(text).__name__
        raise bad(where, key, f"JSON text of at most {limit >> 20} MB", shown)
    try:
        return json.loads(text)
    except RecursionError:
        raise bad(where, key, f"JSON nested at most {MAX_DEPTH} deep", "nested deeper") from None
    except ValueError as error:  # also bytes that are not UTF-8
        raise bad(where, key, "JSON text", str(error)) from None


def _from_export(pre: Any, classes: Any, where: str) -> dict[str, Any] | None:
    """Return the meaning of `ptm-tui export`'s preprocessing and class_names metadata (checked)."""
    if not isinstance(pre, dict):
        raise bad(where, "preprocessing", "a table", pre)
    if pre.get("resize") is None or not pre.get("mean"):
        return None
    said = {"resize": pre["resize"], "crop": pre.get("crop"), "mean": pre["mean"],
            "std": pre.get("std"), "interpolation": pre.get("interpolation", "bilinear"),
            "antialias": pre.get("antialias", True)}
    if classes:
        said["classes"] = classes
    meaning = check_meaning(said, where)
    side = meaning["crop"] or meaning["resize"][-1]
    channels = pre.get("channels", 3)
    meaning["input_size"] = check_meaning({"input_size": [channels, side, side]}, where)["input_size"]
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
    if meaning.get("ema"):
        parts.append(f"the EMA of the trained weights (ema_decay {meaning['ema']['decay']:g})")
    return "the file says: " + "; ".join(parts) if parts else ""
