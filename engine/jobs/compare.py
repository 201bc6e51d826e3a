"""Comparing runs: each job's validation curve, and the settings that tell the jobs apart."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import readfile
from engine.errors import BadInput
from engine.jobs.store import find_job, metrics_file
from engine.text import printable

_SHOWN = 4
"""At most this many distinguishing settings in a legend label."""


@dataclass
class RunCurve:
    """One job's validation accuracy and loss per epoch, and its distinguishing settings."""

    job: str
    epochs: list[int] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    """The recipe keys whose values differ between the compared jobs (dotted: train.lr)."""
    score: str = "accuracy"
    """What val_acc holds: the task's score ("accuracy", "box mAP", "mean IoU" ...)."""
    skipped: str = ""
    """How many lines of its metrics.jsonl could not be used and why ("" when all could)."""

    @property
    def label(self) -> str:
        """The legend text: the job and its distinguishing settings."""
        shown = [f"{key.split('.', 1)[-1]}={_short(value)}" for key, value in self.settings.items()]
        extra = f" +{len(shown) - _SHOWN}" if len(shown) > _SHOWN else ""
        return printable(f"{self.job}: {', '.join(shown[:_SHOWN])}{extra}" if shown else self.job)

    def to_dict(self) -> dict[str, Any]:
        """Return the curve as plain data (the CLI's --json)."""
        return {"job": self.job, "epochs": self.epochs, "val_acc": self.val_acc, "score": self.score,
                "val_loss": self.val_loss, "settings": self.settings, "label": self.label}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "+".join(_short(v) for v in value) or "[]"
    return str(value) if value is not None else "-"


def _frozen(edits: list[dict[str, Any]]) -> list[str]:
    """Return the targets the recipe's edits leave frozen, in order."""
    frozen: list[str] = []
    for edit in edits:
        target = str(edit.get("target", "")) or "(all)"
        if edit.get("op") == "freeze" and target not in frozen:
            frozen.append(target)
        elif edit.get("op") == "unfreeze" and target in frozen:
            frozen.remove(target)
    return frozen


def recipe_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """Return a recipe's comparable settings flat: model.*, train.* and what it freezes."""
    flat = {f"model.{k}": v for k, v in (spec.get("model") or {}).items()}
    flat.update({f"train.{k}": v for k, v in (spec.get("train") or {}).items() if k != "data"})
    edits = spec.get("edit") or []
    flat["frozen"] = _frozen(edits)
    flat["edits"] = [e.get("op") for e in edits if e.get("op") not in ("freeze", "unfreeze")]
    return flat


def differing(settings: list[dict[str, Any]]) -> list[str]:
    """Return the keys whose values are not the same in every one of `settings`, in order."""
    keys: list[str] = []
    for flat in settings:
        keys += [key for key in flat if key not in keys]
    return [key for key in keys if len({repr(flat.get(key)) for flat in settings}) > 1]


def _spec(job_dir: Path) -> dict[str, Any]:
    """Return the job's spec.toml as a dict ({} when it cannot be read or parsed)."""
    path = job_dir / "spec.toml"
    try:
        return tomllib.loads(readfile.decode(readfile.read_bytes(path, 1 << 20), str(path)))
    except (OSError, ValueError, RecursionError):  # tomllib recurses once per nesting level
        return {}


def compare_runs(jobs: list[str]) -> list[RunCurve]:
    """Return the validation curves of `jobs` (ids or folders) with their distinguishing settings."""
    if len(jobs) < 2:
        raise BadInput("comparing needs at least two jobs", f"got {len(jobs)}",
                       "name two or more jobs (ptm-tui jobs lists them)")
    folders = [find_job(job) for job in jobs]
    flats = [recipe_settings(_spec(folder)) for folder in folders]
    keys = differing(flats)
    curves = []
    for folder, flat in zip(folders, flats):
        curve = RunCurve(job=folder.name, settings={key: flat.get(key) for key in keys})
        found = metrics_file(folder)
        if found.skipped:
            curve.skipped = f"{found.skipped} line(s) of metrics.jsonl skipped (first: {found.why})"
        for record in found.records:
            if record.get("kind") == "epoch":
                curve.epochs.append(int(record["epoch"]))
                curve.val_acc.append(float(record["val_acc"]))
                curve.score = str(record.get("score") or curve.score)
                loss = record.get("val_loss")  # None: a detector has no validation loss
                curve.val_loss.append(float(loss) if loss is not None else float("nan"))
        curves.append(curve)
    return curves
