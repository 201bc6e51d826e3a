"""Where an edit left its result: the layer a face puts its cursor on after an edit or an undo."""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.errors import PtmError
from engine.paths import get_module, split_path


def _exists(model: nn.Module, path: str) -> bool:
    try:
        get_module(model, path)
    except PtmError:
        return False
    return True


def _nearest(model: nn.Module, path: str) -> str:
    """Return `path`, else its nearest ancestor that is still in the model."""
    while path and not _exists(model, path):
        path = split_path(path)[0]
    return path


def _inserted(model: nn.Module, target: str, after: bool) -> str:
    """Return the path of the module an insert_before/insert_after put beside `target`."""
    parent_path, name = split_path(target)
    parent = get_module(model, parent_path)
    if isinstance(parent, nn.Sequential) and name.isdigit():
        index = int(name) + (1 if after else 0)  # numbered: the new module took this place
        return f"{parent_path}.{index}" if parent_path else str(index)
    if isinstance(parent, nn.Sequential):
        return target  # named children: the new one's name is made up; stay beside it
    return f"{target}.{1 if after else 0}"  # target became Sequential(old, new) or (new, old)


def edited_path(model: nn.Module, edit: dict[str, Any], undone: bool = False) -> str | None:
    """Return the module path an applied (or `undone`) edit changed, as it is in `model` now:
    the replacement, the inserted module, what took a deleted layer's place (else its parent),
    the new head or input conv. None when the edit names no single layer (a compound step's
    first part is used)."""
    from engine.edit.surgery import head_target, input_conv_target

    parts = edit.get("edits")
    if parts:
        edit = parts[0]
    op, target = edit.get("op"), edit.get("target")
    try:
        if op == "replace_head":
            target = head_target(model, target or None)
        elif op == "adapt_input":
            target = input_conv_target(model, target or None)
        elif op in ("insert_before", "insert_after") and not undone and isinstance(target, str):
            target = _inserted(model, target, after=op == "insert_after")
    except PtmError:
        return None
    if not isinstance(target, str):
        return None
    return _nearest(model, target)
