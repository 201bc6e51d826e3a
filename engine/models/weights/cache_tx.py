"""All-or-nothing changes to a cache: every folder, file and link made is undone on failure.

Every path is resolved after joining and must stay inside the cache's root, so no name taken
from a file (a manifest's revision, a Hub's commit) can reach outside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.errors import BadInput, WorkFailed

_FULL = (errno.ENOSPC, errno.EDQUOT)


class CacheChange:
    """Folders made, files staged and targets replaced in one cache change; undone unless committed."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._done: list[Callable[[], None]] = []

    def inside(self, root: Path, *parts: str, what: str = "") -> Path:
        """Return root/parts with its folder resolved; BadInput when it leaves `root`."""
        base = root.expanduser().resolve()
        joined = base.joinpath(*parts)
        placed = joined.parent.resolve() / joined.name
        if not placed.is_relative_to(base) or placed == base:
            raise BadInput(
                f"refused to write {joined}",
                f"{what or 'the name'} leads outside the cache {base}",
                "use a bundle made by `ptm-tui download --bundle`; this one was altered",
            )
        return placed

    def folder(self, path: Path) -> Path:
        """Make `path` and its missing parents; they are removed again on undo."""
        missing = []
        at = path
        while not at.exists() and at != at.parent:
            missing.append(at)
            at = at.parent
        for made in reversed(missing):
            try:
                made.mkdir()
            except FileExistsError:
                continue
            except OSError as error:
                raise cache_error(made, error) from None
            self._undo.append(lambda made=made: made.rmdir())
        if not path.is_dir():
            raise BadInput(
                f"cannot write into {path}",
                "it is not a folder",
                f"move it away (mv {path} {path}.old) and run again",
            )
        return path

    def temp(self, folder: Path, name: str, suffix: str) -> tuple[int, Path]:
        """Return (descriptor, path) of a new temporary file in `folder`, removed on undo or commit."""
        try:
            fd, made = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
        except OSError as error:
            raise cache_error(folder, error) from None
        path = Path(made)
        self._undo.append(lambda: path.unlink(missing_ok=True))
        self._done.append(lambda: path.unlink(missing_ok=True))
        return fd, path

    def put(self, made: Path, target: Path) -> None:
        """Move the file or link `made` to `target`; what was there is restored on undo."""
        if target.is_dir() and not target.is_symlink():
            raise BadInput(
                f"cannot install {target.name}",
                f"{target} is a folder",
                f"move it away (mv {target} {target}.old) and import again",
            )
        kept: Path | None = None
        if os.path.lexists(target):
            kept = target.with_name(f".{target.name}.{os.getpid()}.{id(self)}.kept")
            os.replace(target, kept)
            self._done.append(lambda: kept.unlink(missing_ok=True))
        try:
            os.replace(made, target)
        except OSError as error:
            if kept is not None:
                os.replace(kept, target)
            raise cache_error(target, error) from None

        def back() -> None:
            target.unlink(missing_ok=True)
            if kept is not None:
                os.replace(kept, target)

        self._undo.append(back)

    def link(self, pointing_to: Path, target: Path) -> None:
        """Make `target` a relative symlink to `pointing_to`, replacing what is there (undone too)."""
        fd, temp = self.temp(target.parent, target.name, ".link")
        os.close(fd)
        temp.unlink()
        os.symlink(os.path.relpath(pointing_to, target.parent), temp)
        self.put(temp, target)

    def text(self, target: Path, text: str) -> None:
        """Write `text` to `target` (a small file such as refs/main), undone on failure."""
        fd, temp = self.temp(target.parent, target.name, ".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        except OSError as error:
            raise cache_error(target, error) from None
        self.put(temp, target)

    def undo(self) -> None:
        """Undo everything, newest first."""
        for step in reversed(self._undo):
            with contextlib.suppress(OSError):
                step()
        self._undo.clear()
        self._done.clear()

    def commit(self) -> None:
        """Keep the changes; remove what was kept for undo."""
        for step in self._done:
            with contextlib.suppress(OSError):
                step()
        self._undo.clear()
        self._done.clear()


@contextlib.contextmanager
def cache_change() -> Iterator[CacheChange]:
    """Yield a CacheChange committed when the block ends normally, undone otherwise."""
    change = CacheChange()
    try:
        yield change
    except BaseException:
        change.undo()
        raise
    change.commit()


def cache_error(path: Path, error: OSError) -> WorkFailed:
    """Return the error for a write into a cache that failed (no space left, permission...)."""
    if error.errno in _FULL:
        return WorkFailed(
            f"cannot write {path}",
            "no space left on the device",
            "free some disk space (or point TORCH_HOME / HF_HOME at a disk with room) "
            "and run again; the caches are as they were",
        )
    return WorkFailed(
        f"cannot write {path}",
        error.strerror or str(error),
        "check that the cache folder is writable (TORCH_HOME / HF_HOME); the caches are as they were",
    )
