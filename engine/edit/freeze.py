"""Freezing and unfreezing parameters, and the counts that follow them."""

from __future__ import annotations

from torch import nn

from engine.paths import get_module


def set_trainable(model: nn.Module, path: str, trainable: bool) -> int:
    """Set requires_grad on every parameter under `path`; return how many tensors changed."""
    changed = 0
    for param in get_module(model, path).parameters():
        if param.requires_grad != trainable:
            param.requires_grad_(trainable)
            changed += 1
    return changed


def count_params(model: nn.Module) -> tuple[int, int]:
    """Return (total, trainable) parameter counts, each shared tensor counted once."""
    total = trainable = 0
    for param in model.parameters():
        n = param.numel()
        total += n
        if param.requires_grad:
            trainable += n
    return total, trainable


def is_frozen(module: nn.Module) -> bool | None:
    """Return True when every parameter is frozen, False when all train, None when mixed or empty."""
    flags = {p.requires_grad for p in module.parameters()}
    if len(flags) != 1:
        return None
    return not flags.pop()


def trainable_blocks_before(model: nn.Module, child: str) -> list[str]:
    """Return the top-level children before `child` that still train (what 'freeze before' freezes)."""
    names = []
    for name, module in model.named_children():
        if name == child:
            break
        if any(p.requires_grad for p in module.parameters()):
            names.append(name)
    return names


def frozen_batchnorm_to_eval(model: nn.Module) -> int:
    """Put every BatchNorm whose parameters are all frozen in eval mode; return how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and is_frozen(module):
            module.eval()
            count += 1
    return count
