"""What undo keeps for each step: the saved flags, values or layers, and the memory they hold."""

from __future__ import annotations

import copy
import math
import os
import sys
from dataclasses import dataclass

import torch
from torch import nn

from engine.edit.ops import Edit
from engine.errors import BadInput


@dataclass
class UndoRecord:
    """What is needed to undo (or redo) one edit."""

    edit: Edit
    path: str
    module: nn.Module | None = None
    flags: list[tuple[nn.Parameter, bool]] | None = None
    """Each parameter under the edited module with its requires_grad before the edit."""
    values: dict[str, torch.Tensor] | None = None
    summary: str = ""
    size: int = 0
    """Bytes the copy holds beyond the live model, measured when the edit was applied."""
    dropped: bool = False
    """True once its copy was let go to stay inside the undo memory budget."""
    parts: list[UndoRecord] | None = None
    """The edits of a compound step (one key press): undone and redone together."""

    @property
    def edits(self) -> list[Edit]:
        """The recipe edits this step stands for (several for a compound step)."""
        return [part.edit for part in self.parts] if self.parts is not None else [self.edit]

    def drop(self) -> None:
        """Let go of the saved copy: the edit stays in the recipe but can no longer be undone."""
        self.module = self.flags = self.values = None
        self.size = 0
        self.dropped = True
        for part in self.parts or []:
            part.drop()

    def changed_nothing(self) -> bool:
        """True for a freeze/unfreeze that found every flag already as it asked."""
        return self.flags is not None and all(p.requires_grad == flag for p, flag in self.flags)


UNDO_BUDGET_MB = 2048
"""Default memory that undo copies (replaced layers, values before an init or load) may hold."""


def undo_budget_bytes() -> int:
    """Return the undo memory budget: $PTM_UNDO_MB mebibytes, else UNDO_BUDGET_MB."""
    text = os.environ.get("PTM_UNDO_MB", "").strip()
    try:
        megabytes = float(text) if text else UNDO_BUDGET_MB
    except ValueError:
        megabytes = math.nan
    if math.isnan(megabytes):
        raise BadInput(f"PTM_UNDO_MB={text!r} is not a number", "it sets the undo memory budget",
                       "set it to a size in MiB, e.g. PTM_UNDO_MB=4096 (inf: no limit)")
    return sys.maxsize if math.isinf(megabytes) and megabytes > 0 else \
        max(0, int(megabytes * 2**20))


def storage_key(tensor: torch.Tensor) -> int:
    try:
        return tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # tensors without plain storage: count them apart
        return id(tensor)


def _nbytes(tensor: torch.Tensor) -> int:
    try:
        return tensor.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError):
        return tensor.numel() * tensor.element_size()


def snapshot_bytes(record: UndoRecord, live: set[int]) -> int:
    """Return the memory `record` holds beyond the live model (tensors the model shares are free)."""
    if record.values is not None:
        tensors = list(record.values.values())
    elif record.module is not None:
        tensors = [*record.module.parameters(), *record.module.buffers()]
    else:
        return 0
    seen: set[int] = set()
    total = 0
    for tensor in tensors:
        if tensor.device.type == "meta":
            continue
        key = storage_key(tensor)
        if key in live or key in seen:
            continue
        seen.add(key)
        total += _nbytes(tensor)
    return total


def flags_of(module: nn.Module) -> list[tuple[nn.Parameter, bool]]:
    # the parameters themselves, not their names: no name building on an 11k-module model
    return [(p, p.requires_grad) for p in module.parameters()]


def copy_sharing_tensors(module: nn.Module) -> nn.Module:
    """Copy the module structure but share its parameters and buffers (for ops that swap modules)."""
    memo: dict[int, object] = {id(t): t for t in module.parameters()}
    memo.update({id(t): t for t in module.buffers()})
    return copy.deepcopy(module, memo)


def values_of(module: nn.Module) -> dict[str, torch.Tensor]:
    """Return a CPU copy of every parameter and buffer value under `module`, by name."""
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    return {name: t.detach().to("cpu", copy=True) for name, t in tensors.items()}


def set_values(module: nn.Module, values: dict[str, torch.Tensor]) -> None:
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    with torch.no_grad():
        for name, value in values.items():
            tensors[name].copy_(value)


def set_flags(flags: list[tuple[nn.Parameter, bool]]) -> None:
    for param, flag in flags:
        param.requires_grad_(flag)
