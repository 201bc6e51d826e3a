"""The one check every meaning read from a file passes before anything uses it: its shape (depth,
size), then each key's type and range. A file is anyone's: a bad value is a BadInput naming the key,
never a traceback, a huge allocation or a deep recursion later."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from typing import Any

from engine.errors import BadInput

MAX_SIDE = 4096
"""The largest image side a file may ask for (a finetune's --image-size is held to the same)."""
MAX_CHANNELS = 1024
MAX_CLASSES = 100_000
MAX_NAME = 256
"""The longest class name or job id (characters)."""
MAX_DEPTH = 16
MAX_ITEMS = 1_000_000
"""Values (strings, numbers, lists, tables) a meaning may hold in all."""
MAX_TEXT = 16 << 20
"""Characters a meaning may hold in all (its JSON in a .safetensors header, its strings)."""
KINDS = ("classification", "detection", "segmentation")
TASKS = ("classification", "detection", "instance_segmentation", "keypoints", "semantic_segmentation")
"""What engine.train.tasks trains (kept here as data: this layer does not import train)."""
INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic", "box", "hamming", "lanczos")
_FIX = (
    "the file was not written by ptm-tui, or was changed since; to use its tensors alone, save "
    "them again without it: torch.save(dict(state_dict), NEW.pth), or safetensors' "
    "save_file(load_file(FILE), NEW.safetensors)"
)

_SHOW = reprlib.Repr()
"""Shows a bad value in a message: a few items of a long list, never all of it."""
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxstring, _SHOW.maxother = 3, 4, 4, 40, 40


class BadMeaning(BadInput):
    """What a weights file says about itself cannot be used (a type, a range, its size)."""


def bad(where: str, key: str, expected: str, got: Any) -> BadMeaning:
    """Return the error for key `key` of the meaning in `where`, which must be `expected`."""
    shown = _SHOW.repr(got)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return BadMeaning(
        f"{where} says something ptm-tui cannot use: `{key}`",
        f"`{key}` must be {expected}; it is {shown}",
        _FIX,
    )


def check_shape(value: Any, where: str, key: str) -> None:
    """Raise BadMeaning when `value` nests deeper than MAX_DEPTH or holds too much (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    items = text = 0
    while stack:
        node, depth = stack.pop()
        items += 1
        if depth > MAX_DEPTH:
            raise bad(where, key, f"nested at most {MAX_DEPTH} deep", "something nested deeper")
        if items > MAX_ITEMS:
            raise bad(where, key, f"at most {MAX_ITEMS:,} values", "more")
        if isinstance(node, str):
            text += len(node)
        elif isinstance(node, Mapping):
            text += sum(len(k) for k in node if isinstance(k, str))
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, (list, tuple)):
            stack += [(v, depth + 1) for v in node]
        if text > MAX_TEXT:
            raise bad(where, key, f"at most {MAX_TEXT >> 20} MB of text", "more")


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_side(value: Any, where: str, key: str) -> int:
    """Return an image side read from `where`, or raise BadMeaning naming `key`."""
    if not _whole(value, 1, MAX_SIDE):
        raise bad(where, key, f"a whole number of pixels from 1 to {MAX_SIDE}", value)
    return value


def _sides(value: Any, where: str, key: str) -> list[int] | None:
    """Return `resize` as [side] or [height, width]."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return [check_side(value, where, key)]
    if not isinstance(value, list) or len(value) not in (1, 2):
        raise bad(where, key, f"[side] or [height, width], each from 1 to {MAX_SIDE}", value)
    return [check_side(v, where, f"{key}[{i}]") for i, v in enumerate(value)]


def _input_size(value: Any, where: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 3:
        raise bad(where, "input_size", "[channels, height, width]", value)
    if not _whole(value[0], 1, MAX_CHANNELS):
        raise bad(where, "input_size[0]", f"a number of channels from 1 to {MAX_CHANNELS}", value[0])
    return [
        value[0],
        check_side(value[1], where, "input_size[1]"),
        check_side(value[2], where, "input_size[2]"),
    ]


def _per_channel(meaning: Mapping[str, Any], where: str) -> dict[str, list[float]]:
    """Return mean and std: both or neither, 1 or 3 finite numbers each (images are RGB)."""
    if meaning.get("mean") is None and meaning.get("std") is None:
        return {}
    found = {}
    for key in ("mean", "std"):
        value = meaning.get(key)
        if not isinstance(value, list) or len(value) not in (1, 3) or not all(map(_number, value)):
            raise bad(where, key, "a list of 1 or 3 finite numbers (one per RGB channel)", value)
        found[key] = [float(v) for v in value]
    if len(found["mean"]) != len(found["std"]):
        raise bad(where, "std", f"as long as mean ({len(found['mean'])})", found["std"])
    if not all(v > 0 for v in found["std"]):
        raise bad(where, "std", "positive numbers (images are divided by them)", found["std"])
    return found


def check_classes(value: Any, where: str, key: str = "classes") -> list[str]:
    """Return class names read from `where`, or raise BadMeaning naming `key`."""
    if not isinstance(value, list) or len(value) > MAX_CLASSES:
        raise bad(where, key, f"a list of at most {MAX_CLASSES:,} names", value)
    for i, name in enumerate(value):
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise bad(where, f"{key}[{i}]", f"text of at most {MAX_NAME} characters", name)
    return list(value)


def _recipe(value: Any, where: str) -> dict[str, Any]:
    """Return the recipe's structure checked: {"model": {"name": text, ...}, "edit": [tables]}
    (engine.edit.recipe checks each value when it is built)."""
    if not isinstance(value, Mapping):
        raise bad(where, "recipe", "a table with model and edit", value)
    model = value.get("model")
    if not isinstance(model, Mapping):
        raise bad(where, "recipe.model", "a table (name, weights, seed)", model)
    if not isinstance(model.get("name"), str) or not model["name"]:
        raise bad(where, "recipe.model.name", "the model's name as text", model.get("name"))
    edits = value.get("edit") or []
    if not isinstance(edits, list) or not all(isinstance(e, Mapping) for e in edits):
        raise bad(where, "recipe.edit", "a list of edit tables", edits)
    return {"model": dict(model), "edit": [dict(e) for e in edits]}


def check_meaning(meaning: Any, where: str) -> dict[str, Any]:
    """Return the meaning read from `where` (a file, in words) with every key it uses checked and
    unknown keys left out; raise BadMeaning naming the first bad key."""
    if not isinstance(meaning, Mapping) or not all(isinstance(k, str) for k in meaning):
        raise bad(where, "meaning", "a table of named values", type(meaning).__name__)
    check_shape(meaning, where, "meaning")
    checked: dict[str, Any] = {}
    if meaning.get("recipe") is not None:
        checked["recipe"] = _recipe(meaning["recipe"], where)
    if meaning.get("classes") is not None:
        checked["classes"] = check_classes(meaning["classes"], where)
    job = meaning.get("job")
    if job is not None:
        if not isinstance(job, str) or not 1 <= len(job) <= MAX_NAME:
            raise bad(where, "job", f"a job id of 1 to {MAX_NAME} characters", job)
        checked["job"] = job
    kind = meaning.get("kind")
    if kind is not None:
        if kind not in KINDS:
            raise bad(where, "kind", f"one of {', '.join(KINDS)}", kind)
        checked["kind"] = kind
    if meaning.get("ema") is not None:
        checked["ema"] = _ema(meaning["ema"], where)
    checked.update(_task_keys(meaning, where))
    if "resize" in meaning:
        checked["resize"] = _sides(meaning["resize"], where, "resize")
    if "crop" in meaning:
        checked["crop"] = None if meaning["crop"] is None else check_side(meaning["crop"], where, "crop")
    if "input_size" in meaning:
        checked["input_size"] = _input_size(meaning["input_size"], where)
    checked.update(_per_channel(meaning, where))
    mode = meaning.get("interpolation")
    if mode is not None:
        if mode not in INTERPOLATIONS:
            raise bad(where, "interpolation", f"one of {', '.join(INTERPOLATIONS)}", mode)
        checked["interpolation"] = mode
    if "antialias" in meaning:
        if not isinstance(meaning["antialias"], bool):
            raise bad(where, "antialias", "true or false", meaning["antialias"])
        checked["antialias"] = meaning["antialias"]
    return checked


def _ema(value: Any, where: str) -> dict[str, Any]:
    """Return a finetune's EMA settings ({decay in [0, 1), steps from 1}) checked."""
    if not isinstance(value, Mapping):
        raise bad(where, "ema", "a table {decay, steps}", value)
    decay, steps = value.get("decay"), value.get("steps")
    if not (_number(decay) and 0 <= decay < 1):
        raise bad(where, "ema.decay", "a number from 0 to below 1", decay)
    if not _whole(steps, 1, 1_000_000):
        raise bad(where, "ema.steps", "a whole number from 1 to 1,000,000", steps)
    return {"decay": float(decay), "steps": int(steps)}


def _task_keys(meaning: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Return the keys a detection or segmentation finetune saves (its task, the data's category
    ids and keypoint names, a detector's min_size/max_size), checked."""
    checked: dict[str, Any] = {}
    task = meaning.get("task")
    if task is not None:
        if task not in TASKS:
            raise bad(where, "task", f"one of {', '.join(TASKS)}", task)
        checked["task"] = task
    ids = meaning.get("category_ids")
    if ids is not None:
        if not isinstance(ids, list) or len(ids) > MAX_CLASSES or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**31 for i in ids):
            raise bad(where, "category_ids", f"a list of at most {MAX_CLASSES:,} whole numbers", ids)
        checked["category_ids"] = ids
    if meaning.get("keypoint_names") is not None:
        checked["keypoint_names"] = check_classes(meaning["keypoint_names"], where, "keypoint_names")
    if meaning.get("min_size") is not None or meaning.get("max_size") is not None:
        sides = meaning.get("min_size")
        if not isinstance(sides, list) or not 1 <= len(sides) <= 16:
            raise bad(where, "min_size", "a list of 1 to 16 image sides (a detector's min_size)", sides)
        checked["min_size"] = [check_side(v, where, f"min_size[{i}]") for i, v in enumerate(sides)]
        checked["max_size"] = check_side(meaning.get("max_size"), where, "max_size")
    return checked
