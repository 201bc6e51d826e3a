"""Each layer learning, measured during training: per top-level block and per parameter group, the
gradient norm, the weight norm and the update-to-weight ratio ||Δw|| / ||w|| of one step.

Measured every few steps only (a copy of the trainable weights is taken just before that step's
update), so the cost stays a small fraction of training. Flags say what looks wrong: gradients
that vanish or explode, and frozen blocks whose weights still move (a bug signal).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.train.params import ParamGroup

VANISHING = 1e-8
"""A block's gradients vanish when their norm is below this fraction of its weights' norm."""
EXPLODING = 1e-1
"""A step that changes a block's weights by more than this fraction of their norm explodes."""
HEALTHY_UPDATE = (1e-4, 1e-2)
"""The usual healthy band of the update-to-weight ratio (around 1e-3; Karpathy's rule of thumb)."""
PER_EPOCH = 4
"""Measurements per epoch when the interval is automatic..."""
MIN_EVERY = 10
"""...but never more often than every this many steps (short epochs: at least once an epoch)."""


def interval(every: int, steps_per_epoch: int) -> int:
    """Return the steps between measurements: `every` when > 0, 0 (off) when 0, else automatic
    (about PER_EPOCH an epoch, at most one every MIN_EVERY steps, at least one an epoch)."""
    if every > 0:
        return every
    if every == 0:
        return 0
    return max(1, steps_per_epoch // PER_EPOCH, min(MIN_EVERY, steps_per_epoch))


def _blocks(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Return the parameters of each top-level block (those directly on the root: "(root)")."""
    blocks: dict[str, list[nn.Parameter]] = {}
    direct = list(model.parameters(recurse=False))
    if direct:
        blocks["(root)"] = direct
    for name, child in model.named_children():
        params = list(child.parameters())
        if params:
            blocks[name] = params
    return blocks


@dataclass
class _Snapshot:
    """The trainable weights and the frozen fingerprints just before an update."""

    weights: list[torch.Tensor]
    grad_norms: list[torch.Tensor]
    frozen_norms: list[torch.Tensor]


class LayerDiagnostics:
    """Measures how each block and group learns, around one optimizer step every `every` steps."""

    def __init__(self, model: nn.Module, groups: list[ParamGroup], every: int) -> None:
        self.every = every
        self.blocks = _blocks(model)
        self.groups = {group.name: list(group.params) for group in groups}
        self._snapshot: _Snapshot | None = None
        self._trainable: list[nn.Parameter] = []
        self._frozen: list[nn.Parameter] = []
        self._buffers: list[torch.Tensor] = []
        self._buffer_shapes: list[tuple[Any, ...]] = []

    def due(self, step: int) -> bool:
        """Return True when the step numbered `step` (1-based) is measured."""
        return self.every > 0 and step % self.every == 0

    def before_step(self) -> None:
        """Copy the trainable weights and note the gradients (call after backward, before step)."""
        params = [p for params in self.blocks.values() for p in params]
        self._trainable = [p for p in params if p.requires_grad and p.grad is not None]
        self._frozen = [p for p in params if not p.requires_grad]
        with torch.no_grad():
            grads = [p.grad for p in self._trainable]
            self._snapshot = _Snapshot(
                weights=self._copy([p.detach() for p in self._trainable]),
                grad_norms=list(torch._foreach_norm(grads)) if grads else [],
                frozen_norms=list(torch._foreach_norm([p.detach() for p in self._frozen]))
                if self._frozen else [])

    def _copy(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Return copies of `tensors` in buffers kept between measurements (no fresh memory)."""
        shapes = [(t.shape, t.dtype, t.device) for t in tensors]
        if shapes != self._buffer_shapes:
            self._buffers = [torch.empty_like(t) for t in tensors]
            self._buffer_shapes = shapes
        if tensors:
            torch._foreach_copy_(self._buffers, tensors)
        return self._buffers

    def after_step(self, epoch: int, step: int) -> dict[str, Any] | None:
        """Return the record of the measured step (call after optimizer.step), or None."""
        snap, self._snapshot = self._snapshot, None
        if snap is None:
            return None
        with torch.no_grad():
            now = [p.detach() for p in self._trainable]
            weight_norms = list(torch._foreach_norm(now)) if now else []
            if now:  # the buffers become w_before - w_after in place
                torch._foreach_sub_(snap.weights, now)
            deltas = snap.weights
            delta_norms = list(torch._foreach_norm(deltas)) if deltas else []
            frozen_after = list(torch._foreach_norm([p.detach() for p in self._frozen])) \
                if self._frozen else []
            numbers = torch.stack([t.float() for t in (*snap.grad_norms, *weight_norms, *delta_norms,
                                                        *snap.frozen_norms, *frozen_after)]
                                  ).tolist() if (now or self._frozen) else []  # one device sync
        n, f = len(now), len(self._frozen)
        grad, weight, delta = numbers[:n], numbers[n:2 * n], numbers[2 * n:3 * n]
        moved = {id(p) for p, a, b in zip(self._frozen, numbers[3 * n:3 * n + f], numbers[3 * n + f:])
                 if a != b}
        index = {id(p): i for i, p in enumerate(self._trainable)}
        blocks = {name: self._summary(params, index, grad, weight, delta, moved)
                  for name, params in self.blocks.items()}
        groups = {name: self._summary(params, index, grad, weight, delta, moved)
                  for name, params in self.groups.items()}
        return {"kind": "layers", "epoch": epoch + 1, "step": step, "blocks": blocks,
                "groups": groups, "flags": flags(blocks)}

    @staticmethod
    def _summary(params: list[nn.Parameter], index: dict[int, int], grad: list[float],
                 weight: list[float], delta: list[float], moved: set[int]) -> dict[str, Any]:
        """Combine per-tensor norms into one block's (or group's) numbers."""
        rows = [index[id(p)] for p in params if id(p) in index]
        if not rows:
            return {"trainable": False, "frozen_moved": any(id(p) in moved for p in params)}
        grad_norm = math.sqrt(sum(grad[i] ** 2 for i in rows))
        weight_norm = math.sqrt(sum(weight[i] ** 2 for i in rows))
        update = math.sqrt(sum(delta[i] ** 2 for i in rows))
        return {"trainable": True, "grad_norm": grad_norm, "weight_norm": weight_norm,
                "update_ratio": update / weight_norm if weight_norm > 0 else None,
                "frozen_moved": any(id(p) in moved for p in params)}


def flag_kind(flag: str) -> str:
    """Return a flag without its numbers: the same problem of the same block, whatever its size."""
    return re.sub(r"\d[\d.]*(e[-+]?\d+)?%?", "#", flag)


def flags(blocks: dict[str, dict[str, Any]]) -> list[str]:
    """Return what looks wrong in a record's blocks, in words (empty when all is well)."""
    found = []
    for name, row in blocks.items():
        if row.get("frozen_moved"):
            found.append(f"{name}: frozen weights changed (they should not move)")
        if not row.get("trainable"):
            continue
        grad, weight, ratio = row["grad_norm"], row["weight_norm"], row["update_ratio"]
        if not math.isfinite(grad) or (ratio is not None and not math.isfinite(ratio)):
            found.append(f"{name}: gradients are not finite (exploding)")
        elif weight > 0 and grad / weight < VANISHING:
            found.append(f"{name}: gradients vanish ({grad / weight:.1e} of the weights' norm)")
        elif ratio is not None and ratio > EXPLODING:
            found.append(f"{name}: one step changed the weights by {ratio:.0%} (exploding)")
    return found
