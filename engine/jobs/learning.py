"""A job's per-layer learning history, read from its metrics.jsonl (see engine/train/diagnostics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.jobs.store import metrics_file
from engine.train.diagnostics import flag_kind


@dataclass
class LayerHistory:
    """Per block: (epoch position, grad norm, update ratio) points; the latest flags."""

    blocks: dict[str, list[tuple[float, float, float | None]]] = field(default_factory=dict)
    frozen: list[str] = field(default_factory=list)
    """Blocks with nothing to train in the latest measurement."""
    flags: list[str] = field(default_factory=list)
    """Every block's problem raised so far (oldest first), each with its newest numbers."""
    latest: dict[str, Any] = field(default_factory=dict)
    """The newest measurement record (empty before the first)."""
    skipped: str = ""
    """How many lines of metrics.jsonl could not be used and why ("" when all could)."""


def layer_history(job_dir: str | Path, steps_per_epoch: int | None = None) -> LayerHistory:
    """Return the job's per-layer learning measurements, oldest first."""
    history = LayerHistory()
    found = metrics_file(job_dir)
    records = found.records
    if found.skipped:
        history.skipped = f"{found.skipped} line(s) of its metrics.jsonl skipped (first: {found.why})"
    steps = steps_per_epoch or max([int(r.get("steps", 0) or 0) for r in records] or [0]) or 1
    for record in records:
        if record.get("kind") != "layers":
            continue
        x = int(record.get("epoch", 1)) - 1 + int(record.get("step", 0)) / steps
        for name, row in (record.get("blocks") or {}).items():
            if row.get("trainable"):
                history.blocks.setdefault(name, []).append(
                    (x, float(row["grad_norm"]), row.get("update_ratio")))
        for flag in record.get("flags", []):  # one line per block and problem: its newest size
            kinds = [flag_kind(known) for known in history.flags]
            if flag_kind(flag) in kinds:
                history.flags[kinds.index(flag_kind(flag))] = flag
            else:
                history.flags.append(flag)
        history.latest = record
    history.frozen = [name for name, row in (history.latest.get("blocks") or {}).items()
                      if not row.get("trainable")]
    return history
