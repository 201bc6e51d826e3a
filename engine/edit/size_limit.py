"""The size limit on what an edit builds: module expressions, new heads, adapted input convs."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from engine.errors import BadInput

MAX_PARAMETERS = 1_000_000_000
"""An edit that would build more parameters and buffers (4 GB in float32) is refused before it
allocates them."""


def size_of(module: nn.Module) -> int:
    """Return how many numbers `module` holds: its parameters and buffers."""
    return sum(t.numel() for t in module.parameters()) + sum(t.numel() for t in module.buffers())


def check_size(count: int, what: str, value: str) -> None:
    """Raise BadInput naming `value` (e.g. "num_classes=1000000000") when `count` is past the limit."""
    if count > MAX_PARAMETERS:
        raise BadInput(
            f"{what} with {value} would have {count:,} parameters ({count * 4 / 1e9:,.1f} GB in float32)",
            f"the limit is {MAX_PARAMETERS:,} parameters, as for module expressions",
            f"use a smaller {value.split('=')[0]}",
        )


def build_within_limit(build: Callable[[], nn.Module], what: str, value: str) -> nn.Module:
    """Return `build()`, after building it on the meta device (no memory) to check its size."""
    with torch.device("meta"):
        skeleton = build()
    check_size(size_of(skeleton), what, value)
    return build()
