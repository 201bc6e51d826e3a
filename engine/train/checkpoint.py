"""Checkpoints: atomic saves, keep the last K and the best, load the newest complete one."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import re
import stat
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_save
from engine.errors import WorkFailed

NAME = re.compile(r"^epoch-(\d{4,})(?:-step-(\d{5,}))?\.pt$")


def checkpoint_name(epoch: int, step: int = 0) -> str:
    """Return the file name of a checkpoint after `epoch` epochs (and `step` batches of the next)."""
    return f"epoch-{epoch:04d}.pt" if step == 0 else f"epoch-{epoch:04d}-step-{step:05d}.pt"


def position(path: str | Path) -> tuple[int, int] | None:
    """Return (epoch, step) of a checkpoint file name, or None when it is not one."""
    match = NAME.match(Path(path).name)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Return the checkpoint files in `folder`, oldest first (temporary files excluded)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(position(p), p) for p in folder.iterdir() if position(p) is not None and _regular(p)]
    return [p for _, p in sorted(found)]


def _regular(path: Path) -> bool:
    """Return whether `path` is a regular file itself (no link, FIFO or device: never opened)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def rng_state() -> dict[str, Any]:
    """Return the RNG states (torch, CUDA, python, numpy) as tensors and plain types."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np

        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = (kind, torch.from_numpy(keys.astype("int64")), pos, has_gauss, cached)
    except ImportError:
        pass
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore RNG states saved by rng_state()."""
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError, IndexError):
            torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, cached))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(folder: str | Path, state: dict[str, Any], epoch: int, step: int = 0,
                    keep_last: int = 2, best: str | None = None) -> Path:
    """Write `state` atomically as the checkpoint for (epoch, step); then prune old ones.

    The last `keep_last` checkpoints and `best` (a file name) are kept; older files are
    removed only after the new one is in place.
    """
    folder = Path(folder)
    path = folder / checkpoint_name(epoch, step)
    try:
        folder.mkdir(exist_ok=True)  # never its parents: a job folder its user removed stays gone
        atomic_save(state, path)
    except OSError as error:
        kept = list_checkpoints(folder)
        raise WorkFailed(f"cannot write checkpoint {path.name} into {folder}",
                         (error.strerror or str(error)).lower(),
                         ("free some disk space" if error.errno == errno.ENOSPC else
                          "make the folder writable") + "; the last good checkpoint is "
                         + (kept[-1].name if kept else "none yet")
                         + " (`ptm-tui resume` continues from it)") from None
    _fsync_dir(folder)
    existing = list_checkpoints(folder)
    keep = set(existing[-keep_last:]) | {path}
    if best:
        keep.add(folder / best)
    for old in existing:
        if old not in keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint safely (weights_only=True) or raise WorkFailed."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise WorkFailed(f"cannot read checkpoint {path}", str(error).splitlines()[0][:200],
                         "it may be truncated; an older checkpoint is used when there is one") from None
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise WorkFailed(f"{path} is not a finetune checkpoint", "it lacks 'model' or 'epoch'",
                         "resume from a checkpoint written by ptm-tui")
    return state


def newest_complete(folder: str | Path,
                    map_location: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """Return (path, state) of the newest checkpoint that loads, or None when none does."""
    for path in reversed(list_checkpoints(folder)):
        try:
            return path, load_checkpoint(path, map_location)
        except WorkFailed:
            continue
    return None


def remove_stale_temps(folder: str | Path) -> int:
    """Delete temporary files a killed writer left behind; return how many."""
    folder = Path(folder)
    removed = 0
    if folder.is_dir():
        for path in folder.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed
