"""What a finetune's EMA means for its weights, in words: eval, predict and export say it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ema_note(meaning: Mapping[str, Any] | None) -> str | None:
    """Return the line saying the weights are a job's EMA (ema_decay), or None when they are not."""
    ema = (meaning or {}).get("ema")
    if not ema:
        return None
    steps = int(ema["steps"])
    every = "every update" if steps == 1 else f"every {steps} updates"
    return (
        f"weights: the EMA of the trained weights (ema_decay {ema['decay']:g}, {every}), as its "
        "validation used; the checkpoint keeps the trained ones as trained_model"
    )
