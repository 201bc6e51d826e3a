"""The registry of edit operations: every change to a model is one of these, named as in a recipe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.errors import BadInput

if TYPE_CHECKING:
    from torch import nn

Edit = dict[str, Any]


class EditTarget(Protocol):
    """What an op changes: the Workbench (engine/edit/workbench.py), as the registry sees it."""

    model: nn.Module


@dataclass(frozen=True)
class Op:
    """One kind of edit: how to apply it and which subtree must be saved to undo it."""

    name: str
    apply: Callable[[EditTarget, Edit], str]
    """Mutate `workbench.model` (or set a new root via workbench.replace_root); return a summary."""
    scope: Callable[[nn.Module, Edit], str] = field(default=lambda model, edit: edit.get("target", ""))
    """The path of the smallest module whose copy is enough to undo the edit."""
    required: tuple[str, ...] = ()
    """Keys the edit must carry (besides `op`)."""
    flags_only: bool = False
    """Undo needs only the requires_grad flags (freeze/unfreeze): no module copy."""
    check_shapes: bool = False
    """Run a forward pass on meta tensors after applying; refuse the edit when shapes break."""
    keeps_tensors: bool = False
    """The op swaps modules but never changes a tensor in place, so undo may share tensors."""
    values_only: bool = False
    """The op changes tensor values in place, never the structure: undo keeps a CPU copy of the
    values (no second model on the GPU)."""


OPS: dict[str, Op] = {}
"""Every registered op by name; the op families fill it when engine.edit imports them."""


def register(op: Op) -> Op:
    """Add an op to the registry and return it."""
    OPS[op.name] = op
    return op


def get_op(edit: Edit, index: int | None = None) -> Op:
    """Return the op of an edit after checking its required keys, or raise BadInput."""
    where = f"edit {index} " if index is not None else "edit "
    name = edit.get("op")
    if name not in OPS:
        known = ", ".join(sorted(OPS))
        raise BadInput(f"{where}has unknown op {name!r}", f"the ops are: {known}",
                       "fix the op name in the recipe")
    op = OPS[name]
    missing = [key for key in op.required if key not in edit]
    if missing:
        raise BadInput(f"{where}({name}) is missing {', '.join(map(repr, missing))}",
                       f"op {name!r} needs the keys {', '.join(op.required)}",
                       "add the missing keys to the edit")
    return op
