"""The job folder a runner locked: it writes there only while the folder's path still leads to it.

A job folder replaced under a running job (by an empty folder, or a symbolic link to
somewhere else) must get nothing from it: before each write the runner compares the path
with the folder it opened when it took the lock (same device, same inode), and stops with
a failed status, recorded in the folder it locked, when they differ.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import WorkFailed
from engine.jobs.store import read_json, write_status
from engine.readfile import kind_of

RESUME = "`ptm-tui resume` continues from the last checkpoint"


class FolderChanged(WorkFailed):
    """The job folder's path no longer leads to the folder the runner locked."""


class LockedFolder:
    """The job folder as the runner locked it, held open so that it can be told apart."""

    def __init__(self, path: Path, lock_fd: int | None = None) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        info = os.fstat(self.fd)
        self.identity = (info.st_dev, info.st_ino)
        self.checkpoints = self._checkpoints()
        """The checkpoints folder as it was at the start (a link to other storage is fine)."""
        if lock_fd is not None:  # the lock handed over must be this folder's
            lock = os.fstat(lock_fd)
            try:
                here = os.stat("runner.lock", dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                here = None
            if here is None or (here.st_dev, here.st_ino) != (lock.st_dev, lock.st_ino):
                raise FolderChanged(
                    f"the job folder {path} was replaced before the job started",
                    "its runner.lock is not the lock the launcher took",
                    "launch the job again",
                )

    def changed(self) -> str:
        """Return how the path no longer leads to the locked folder, in words ("" when it does)."""
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            return "was removed"
        except OSError as error:
            return f"cannot be looked at ({error.strerror or error})"
        if stat.S_ISLNK(now.st_mode):
            try:
                target = os.readlink(self.path)
            except OSError:
                target = "?"
            return f"was replaced by a symbolic link (to {target})"
        if (now.st_dev, now.st_ino) != self.identity:
            return "was replaced by another folder"
        checkpoints = self._checkpoints()
        if checkpoints is not None and self.checkpoints is None:
            self.checkpoints = checkpoints  # made by the first checkpoint
        if checkpoints is None and self.checkpoints is not None:
            return "was removed (its checkpoints folder is gone)"  # `rm -r` under way
        if checkpoints != self.checkpoints:
            return "had its checkpoints folder replaced"
        return ""

    def _checkpoints(self) -> tuple[int, int] | None:
        """Return the (device, inode) the checkpoints folder leads to, or None when there is none."""
        try:
            info = os.stat(self.path / "checkpoints")
        except OSError:
            return None
        return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None

    def check(self) -> None:
        """Raise FolderChanged when writing into the job folder's path would miss the locked folder."""
        why = self.changed()
        if why:
            raise FolderChanged(
                f"the job folder {self.path} {why} while the job ran",
                "a runner writes only into the folder it locked, so it stopped without writing there",
                f"put the job folder back, or start a new job; {RESUME}",
            )

    def write_status(self, **updates: Any) -> dict[str, Any]:
        """Check the folder, then merge `updates` into its status.json; a failed write is WorkFailed."""
        self.check()
        try:
            return write_status(self.path, **updates)
        except OSError as error:
            raise unwritable(self.path, "status.json", error) from None

    def record_failure(self, message: str) -> str:
        """Write a failed status with `message` into the locked folder, wherever it now is.

        Return "" when it was written, else why not (the folder was deleted, or nothing in
        it can be written). A folder that refuses new files still gets status.json rewritten
        in place (an immutable or read-only folder keeps its files writable).
        """
        real = Path(f"/proc/self/fd/{self.fd}")
        folder = real if real.is_dir() else self.path
        if os.fstat(self.fd).st_nlink == 0:
            return "the job folder was deleted"
        status = {
            **read_json(folder / "status.json"),
            "status": "failed",
            "message": message,
            "finished": time.time(),
            "updated": time.time(),
        }
        text = (json.dumps(status, indent=1) + "\n").encode()
        try:
            write_status(folder, **status)
            return ""
        except OSError:
            pass
        try:  # in place: no new file needed, and no new blocks when it is not longer
            fd = os.open(folder / "status.json", os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            return f"status.json cannot be written ({error.strerror or error})"
        try:
            os.pwrite(fd, text, 0)
            os.ftruncate(fd, len(text))
            os.fsync(fd)
        except OSError as error:
            return f"status.json cannot be written ({error.strerror or error})"
        finally:
            os.close(fd)
        return ""


def open_for_append(path: Path) -> BinaryIO:
    """Open a job file (log, metrics) to append to, never through a link and never waiting.

    A symbolic link, FIFO or device put there by someone else raises WorkFailed saying what
    it is: appending through a link would write into whatever file it names.
    """
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
    except OSError as error:
        mode = os.lstat(path).st_mode if os.path.lexists(path) else stat.S_IFREG
        if not stat.S_ISREG(mode):
            raise WorkFailed(
                f"{path} is {kind_of(mode)}, not a file", "the job appends to it", f"remove it, then {RESUME}"
            ) from None
        raise unwritable(path.parent, path.name, error) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise WorkFailed(
            f"{path} is {kind_of(mode)}, not a file", "the job appends to it", f"remove it, then {RESUME}"
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")


def unwritable(folder: Path, name: str, error: OSError) -> WorkFailed:
    """Return the error for a write into the job folder that failed (full disk, read-only...)."""
    why = (error.strerror or str(error)).lower()
    fix = (
        "free some disk space"
        if "space" in why
        else "make the job folder writable (chmod u+w; chattr -i when it is immutable)"
    )
    return WorkFailed(f"cannot write {name} into the job folder {folder}", why, f"{fix}, then {RESUME}")
