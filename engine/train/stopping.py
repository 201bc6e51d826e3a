"""Early stopping: the epochs since the validation score last improved."""

from __future__ import annotations

from typing import Any


def epochs_without_gain(history: list[dict[str, Any]], best: float | None) -> tuple[int, int]:
    """Return (epochs since the best score, the best epoch) of the epoch records so far."""
    if not history or best is None:
        return 0, 0
    best_epoch = next(int(r["epoch"]) for r in history if r.get("val_acc") == best)
    return int(history[-1]["epoch"]) - best_epoch, best_epoch


def early_stop_message(history: list[dict[str, Any]], best: float | None, patience: int) -> str | None:
    """Return why the job stops early, or None while it goes on (patience 0: never)."""
    stale, best_epoch = epochs_without_gain(history, best)
    if not patience or stale < patience:
        return None
    return (
        f"early stopping: the validation score has not improved for {stale} epochs "
        f"(early_stopping = {patience}); the best, {best:.2f}%, was at epoch {best_epoch}"
    )
