"""TensorBoard event files of a job (torch.utils.tensorboard), written from the same records as
metrics.jsonl so the two always agree; without the tensorboard package the job goes on."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

FOLDER = "tensorboard"
"""The job's event files live in <job>/tensorboard."""
MISSING = (
    "TensorBoard: the tensorboard package is not installed, so this job writes no event "
    "files (pip install 'ptm-tui[tensorboard]'); metrics.jsonl has every figure"
)
EPOCH_SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_acc": "metric/train_acc",
    "val_acc": "metric/val",
    "best_val_acc": "metric/val_best",
    "images_per_s": "speed/images_per_s",
    "seconds": "speed/epoch_seconds",
}
"""Epoch-record keys and their TensorBoard tags (the task's own train_loss_* terms are added)."""


HPARAM_METRICS = ("metric/val", "metric/val_best", "loss/val", "loss/train")
"""The scalars TensorBoard's HPARAMS tab shows beside each run's settings."""


def hparam_values(settings: dict[str, Any]) -> dict[str, Any]:
    """Return [train] settings as torch's hparams summary holds them: numbers and strings (a list
    joined by commas, a boolean "true"/"false", which it would make 1.0/0.0; None left out)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(str(v) for v in value)
        elif isinstance(value, (int, float, str)):
            out[key] = value
    return out


def global_step(epoch: int, step: int, steps: int) -> int:
    """Return the batches trained so far at (1-based epoch, step in it, steps per epoch)."""
    return (epoch - 1) * steps + step


class Board:
    """Writes metrics records as TensorBoard scalars on one axis: batches trained."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.steps = 0
        """Steps per epoch, from the newest step record (an epoch record has none)."""

    def scalars(self, record: dict[str, Any]) -> list[tuple[str, float, int]]:
        """Return the (tag, value, global step) a metrics record becomes."""
        if record.get("kind") == "step":
            self.steps = int(record["steps"])
            at = global_step(int(record["epoch"]), int(record["step"]), self.steps)
            return [("loss/train_step", float(record["loss"]), at)]
        if record.get("kind") == "layers":
            at = global_step(int(record["epoch"]), int(record["step"]), self.steps)
            return [
                (f"{key}/{name}", float(block[key]), at)
                for name, block in (record.get("blocks") or {}).items()
                if block.get("trainable")
                for key in ("grad_norm", "update_ratio")
                if isinstance(block.get(key), (int, float))
            ]
        if record.get("kind") != "epoch":
            return []
        at = int(record["epoch"]) * self.steps
        out = [
            (tag, float(record[key]), at)
            for key, tag in EPOCH_SCALARS.items()
            if isinstance(record.get(key), (int, float))
        ]
        out += [
            (f"loss/{key}", float(v), at)
            for key, v in record.items()
            if key.startswith("train_loss_") and isinstance(v, (int, float))
        ]
        groups = record.get("lr_groups")
        out += [
            (f"lr/{name}", float(lr), at)
            for name, lr in (groups.items() if isinstance(groups, dict) else [])
            if isinstance(lr, (int, float))
        ]
        return [item for item in out if math.isfinite(item[1])]

    def write(self, record: dict[str, Any]) -> None:
        """Add a metrics record's scalars; flush at each epoch."""
        for tag, value, at in self.scalars(record):
            self.writer.add_scalar(tag, value, at)
        if record.get("kind") == "epoch":
            self.writer.flush()

    def hparams(self, settings: dict[str, Any]) -> None:
        """Write the run's [train] settings as the hparams plugin's summaries, in this run's own
        event file (SummaryWriter.add_hparams would start another run), linked to its metrics."""
        from torch.utils.tensorboard.summary import hparams

        values = hparam_values(settings)
        for summary in hparams(values, {tag: 0.0 for tag in HPARAM_METRICS}):
            self.writer.file_writer.add_summary(summary)
        self.writer.flush()

    def flush(self) -> None:
        """Write what is pending (at each checkpoint: a stopped job's figures reach the disk)."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


def open_board(job_dir: Path, records: list[dict[str, Any]], log: Callable[[str], None]) -> Board | None:
    """Return the job's Board, continuing after `records` (metrics.jsonl as kept on a resume:
    later events of an earlier run are purged); None, said once in the log, without tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log(MISSING)
        return None
    board = Board(None)
    last = 0
    for record in records:
        for _tag, _value, at in board.scalars(record):
            last = max(last, at)
    board.writer = SummaryWriter(
        str(job_dir / FOLDER), purge_step=last + 1 if records else None, flush_secs=10
    )
    return board
