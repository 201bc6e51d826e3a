"""The `compile` key: torch.compile the model in place (its state_dict keeps its keys), or say why
this machine cannot and train it as it is."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import torch
from torch import nn


def compile_blocker(device: torch.device) -> str | None:
    """Return why torch.compile's default backend (inductor) cannot run on `device` here, or None."""
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "inductor needs Triton on a GPU, and it is not installed"
    compiler = os.environ.get("CXX") or "g++"
    if shutil.which(compiler) is None and shutil.which("c++") is None and shutil.which("clang++") is None:
        return f"inductor builds C++ on the {device.type}, and no C++ compiler ({compiler}) is on PATH"
    return None


def compile_model(model: nn.Module, device: torch.device, log: Callable[[str], None]) -> bool:
    """torch.compile `model` in place for training on `device`; log what happened; return whether
    it was compiled."""
    blocker = compile_blocker(device)
    if blocker is not None:
        log(f"compile = true, but {blocker}; training the model uncompiled")
        return False
    model.compile()
    log(f"compile: torch.compile (inductor) on {device.type}; the first steps wait for the compiler")
    return True
