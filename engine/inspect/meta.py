"""Meta copies: a model's structure with empty meta tensors, for shape checks and summaries."""

from __future__ import annotations

import copy

import torch
from torch import nn

DEFAULT_INPUT = (1, 3, 224, 224)
"""The input size used when neither the user nor the weights give one."""


def meta_copy(model: nn.Module) -> nn.Module:
    """Return a copy of `model` whose parameters and buffers are meta tensors (no data copied)."""
    memo: dict[int, object] = {}
    for param in model.parameters():
        memo[id(param)] = nn.Parameter(torch.empty_like(param, device="meta"),
                                       requires_grad=param.requires_grad)
    for buffer in model.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device="meta")
    return copy.deepcopy(model, memo)
