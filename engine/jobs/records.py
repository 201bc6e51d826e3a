"""What status.json and metrics.jsonl may hold: the type of every field the tool reads back.

A job folder is data: anyone who can write it can put anything there. Every read goes
through engine.readfile (bounded, no FIFOs, no deep nesting) and then through these types.
"""

from __future__ import annotations

from typing import Any

NUMBER = (int, float)
INT = (int,)
TEXT = (str,)

STATUS_TYPES: dict[str, tuple[type, ...]] = {
    "job": TEXT,
    "status": TEXT,
    "model": TEXT,
    "message": TEXT,
    "dir": TEXT,
    "host": TEXT,
    "worker_host": TEXT,
    "rdzv_endpoint": TEXT,
    "checkpoint": TEXT,
    "best_checkpoint": TEXT,
    "pid": INT,
    "pid_start": INT,
    "worker_pid": INT,
    "worker_pid_start": INT,
    "nproc": INT,
    "nnodes": INT,
    "world": INT,
    "epoch": INT,
    "epochs": INT,
    "step": INT,
    "steps": INT,
    "bad_images": INT,
    "best_val_acc": NUMBER,
    "last_val_acc": NUMBER,
    "train_loss": NUMBER,
    "created": NUMBER,
    "updated": NUMBER,
    "started": NUMBER,
    "finished": NUMBER,
    "queued": NUMBER,
    "stop_requested": NUMBER,
}
"""status.json's fields as the tool reads them; null stands for "not yet" everywhere."""

METRIC_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "step": {"epoch": INT, "step": INT, "steps": INT, "loss": NUMBER},
    "epoch": {"epoch": INT, "train_loss": NUMBER, "val_acc": NUMBER},
    "layers": {"epoch": INT, "step": INT, "blocks": (dict,), "flags": (list,)},
}
"""The fields each kind of metrics record must have, and their types."""

OPTIONAL_METRICS: dict[str, tuple[type, ...]] = {
    "train_acc": NUMBER,  # a classifier's; a detector or segmenter has no training accuracy
    "val_loss": NUMBER,  # null where the model has no loss in eval mode (a detector)
    "lr": NUMBER,
    "seconds": NUMBER,
    "best_val_acc": NUMBER,
    "time": NUMBER,
}

BLOCK_TYPES: dict[str, tuple[type, ...]] = {
    "trainable": (bool,),
    "grad_norm": NUMBER,
    "weight_norm": NUMBER,
    "update_ratio": NUMBER,
}


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    """Return whether `value` is one of `kinds` (a bool is no number here)."""
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def wrong_status_fields(status: dict[str, Any]) -> list[str]:
    """Return the status fields whose values have the wrong type, as 'key is value' phrases."""
    return [
        f"{key} is {str(status[key])[:40]!r}"
        for key, kinds in STATUS_TYPES.items()
        if status.get(key) is not None and not _is(status[key], kinds)
    ]


def metric_problem(record: dict[str, Any]) -> str:
    """Return why a metrics record cannot be used ("" when it can); unknown kinds pass."""
    kind = record.get("kind")
    need = METRIC_TYPES.get(kind) if isinstance(kind, str) else None
    if need is None:
        return "" if kind is None or isinstance(kind, str) else "its kind is not text"
    for key, kinds in need.items():
        if not _is(record.get(key), kinds):
            return f"its {key} is {str(record.get(key))[:40]!r}"
    for key, kinds in OPTIONAL_METRICS.items():
        if record.get(key) is not None and not _is(record[key], kinds):
            return f"its {key} is {str(record[key])[:40]!r}"
    if kind == "layers":
        for name, row in record["blocks"].items():
            if not isinstance(row, dict):
                return f"its block {name[:40]!r} is not an object"
            bad = [k for k, kinds in BLOCK_TYPES.items() if row.get(k) is not None and not _is(row[k], kinds)]
            if row.get("trainable"):
                bad += [k for k in ("grad_norm", "weight_norm") if not _is(row.get(k), NUMBER)]
            if bad:
                return f"its block {name[:40]!r} has a wrong {bad[0]}"
        if not all(isinstance(flag, str) for flag in record["flags"]):
            return "its flags are not text"
    return ""
