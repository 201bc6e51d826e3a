"""Atomic file writes: a temporary name in the same folder, fsync, then os.replace."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a file on a temporary name beside `path`; move it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """torch.save `obj` to `path` atomically; a failed write raises its OSError (e.g. ENOSPC)."""
    import torch

    with atomic_write(path, "wb") as handle:
        try:
            torch.save(obj, handle)
        except RuntimeError as error:  # torch hides a failed write (disk full) behind its own words
            if isinstance(error.__context__, OSError):
                raise error.__context__ from None
            raise
