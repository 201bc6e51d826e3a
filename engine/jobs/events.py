"""The job runner's event sink: metrics.jsonl, status.json and the log of a job folder."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from engine.jobs.folder_guard import LockedFolder, open_for_append, unwritable
from engine.jobs.store import read_metrics, write_status
from engine.train.diagnostics import flag_kind
from engine.train.events import Events
from engine.train.tensorboard import open_board


def _log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


class JobEvents(Events):
    """Writes the loop's events into the job folder (metrics.jsonl, status.json, log)."""

    def __init__(self, job_dir: Path, folder: LockedFolder | None = None) -> None:
        self.job_dir = job_dir
        self.folder = folder
        """The folder the runner locked: checked before each write when given."""
        self._check()
        self.metrics = io.TextIOWrapper(open_for_append(job_dir / "metrics.jsonl"),
                                        encoding="utf-8")
        self._last_status = 0.0
        self._flagged: set[str] = set()
        self.board = open_board(job_dir, read_metrics(job_dir), _log)
        """The job's TensorBoard event files (None without tensorboard): the same records."""

    def _check(self) -> None:
        if self.folder is not None:
            self.folder.check()

    def _status(self, **updates: Any) -> None:
        if self.folder is not None:
            self.folder.write_status(**updates)
        else:
            write_status(self.job_dir, **updates)

    def _metric(self, record: dict[str, Any]) -> None:
        self._check()
        try:
            self.metrics.write(json.dumps(record) + "\n")
            self.metrics.flush()
        except OSError as error:
            raise unwritable(self.job_dir, "metrics.jsonl", error) from None
        if self.board is not None:
            self.board.write(record)

    def log(self, text: str) -> None:
        """Write a line to the log."""
        _log(text)

    def start(self, settings: dict[str, Any]) -> None:
        """Write the run's settings as TensorBoard hparams."""
        if self.board is not None:
            self.board.hparams(settings)

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """Record the recent loss; refresh status.json at most twice a second."""
        self._metric({"kind": "step", "epoch": epoch + 1, "step": step, "steps": steps,
                      "loss": loss, "time": time.time()})
        now = time.monotonic()
        if now - self._last_status > 0.5 or step == steps:
            self._last_status = now
            self._status(step=step, steps=steps, train_loss=loss)

    def progress(self, epoch: int, step: int, steps: int) -> None:
        """Refresh status.json's step at most twice a second (an epoch shorter than log_every
        steps moves the bar too)."""
        now = time.monotonic()
        if now - self._last_status > 0.5:
            self._last_status = now
            write_status(self.job_dir, step=step, steps=steps)

    def epoch(self, record: dict[str, Any]) -> None:
        """Record an epoch's metrics and log them."""
        self._metric({"kind": "epoch", **record, "time": time.time()})
        self._status(epoch=record["epoch"], step=0, last_val_acc=record["val_acc"],
                     best_val_acc=record.get("best_val_acc"), train_loss=record["train_loss"])
        if "score" in record:  # another task than classification: its loss terms and score
            terms = " ".join(f"{k[6:]} {v:.4f}" for k, v in record.items()
                             if k.startswith("train_loss_"))
            val_loss = "" if record["val_loss"] is None else f"val loss {record['val_loss']:.4f} "
            _log(f"epoch {record['epoch']}: train loss {record['train_loss']:.4f} ({terms}) | "
                 f"{val_loss}{record['score']} {record['val_acc']:.2f}% | {record['seconds']:.1f}s")
            return
        _log(f"epoch {record['epoch']}: train loss {record['train_loss']:.4f} "
             f"acc {record['train_acc']:.2f}% | val loss {record['val_loss']:.4f} "
             f"acc {record['val_acc']:.2f}% | {record['seconds']:.1f}s")

    def layers(self, record: dict[str, Any]) -> None:
        """Record a per-layer learning measurement; log what looks wrong, once per kind."""
        self._metric({**record, "time": time.time()})
        for flag in record.get("flags", []):
            if flag_kind(flag) not in self._flagged:  # once per block and problem, not per size
                self._flagged.add(flag_kind(flag))
                _log(f"layer check: {flag}")

    def bad_images(self, count: int, examples: list[str], new: list[tuple[str, str]]) -> None:
        """Name each newly met unreadable image in the log; keep the count in status.json."""
        for path, why in new:
            _log(f"skipped an unreadable image: {path}" + (f" ({why})" if why else ""))
        self._status(bad_images=count, bad_examples=examples)

    def checkpoint(self, path: Path, best: str | None) -> None:
        """Point status.json at the newest checkpoint (and flush the TensorBoard events)."""
        if self.board is not None:
            self.board.flush()
        self._status(checkpoint=str(path), best_checkpoint=best)
