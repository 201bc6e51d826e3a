"""What a training run tells the outside: progress callbacks, and how the run ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Events:
    """Callbacks the loop reports through (no-ops here; the job runner writes files)."""

    def log(self, text: str) -> None:
        """A line for the job's log."""

    def start(self, settings: dict[str, Any]) -> None:
        """A run begins (not a resume) with these resolved [train] settings."""

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """Progress inside an epoch: `step` of `steps` done, the recent mean loss."""

    def progress(self, epoch: int, step: int, steps: int) -> None:
        """After every step: `step` of `steps` of epoch `epoch` (0-based) done (throttle it)."""

    def epoch(self, record: dict[str, Any]) -> None:
        """One finished epoch's metrics."""

    def layers(self, record: dict[str, Any]) -> None:
        """How each block and parameter group learned in one measured step (see diagnostics.py)."""

    def checkpoint(self, path: Path, best: str | None) -> None:
        """A checkpoint was written (and which file is the best)."""

    def bad_images(self, count: int, examples: list[str], new: list[tuple[str, str]]) -> None:
        """Images that could not be read were skipped: `count` so far, `new` (path, why) now."""


@dataclass
class TrainResult:
    """How a run ended: done, stopped or failed, where, and with which metrics."""

    status: str
    epoch: int
    epochs: int
    best_val_acc: float | None = None
    last_val_acc: float | None = None
    checkpoint: str | None = None
    best_checkpoint: str | None = None
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
