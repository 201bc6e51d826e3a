"""One runner per job: an OS lock (fcntl.flock) on the job folder's runner.lock.

The launcher takes the lock before it starts anything and hands the open file to the
runner (or to torchrun's agent), which holds it for its whole life; the kernel drops it
when that process ends, however it ends. A second launch finds it taken and is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from engine.errors import BadInput, WorkFailed
from engine.readfile import read_bytes

LOCK = "runner.lock"
FD_ENV = "PTM_JOB_LOCK_FD"
"""The environment variable naming the inherited lock's file descriptor in the runner."""
STARTING = "starting"
"""Written after a launcher's pid while it has not yet started the runner."""
HANDOVER_WAIT_S = 10.0
"""How long a refused launch waits for a starting launcher to name its runner."""


def holder(job_dir: str | Path) -> int | None:
    """Return the pid written in the job's lock file (the runner holding it), or None."""
    return _record(job_dir)[0]


def _record(job_dir: str | Path) -> tuple[int | None, bool]:
    """Return the lock file's pid and whether that pid is a launcher still starting the runner."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        words = read_bytes(Path(job_dir) / LOCK, 64).split()
        return int(words[0]), words[1:2] == [STARTING.encode()]
    return None, False


def _runner_pid(job_dir: Path) -> tuple[int | None, bool]:
    """Wait briefly while a launcher hands the lock to its runner; return the pid and if still starting."""
    deadline = time.monotonic() + HANDOVER_WAIT_S
    pid, starting = _record(job_dir)
    while starting and time.monotonic() < deadline:
        time.sleep(0.05)
        pid, starting = _record(job_dir)
    return pid, starting


def held(job_dir: str | Path) -> bool | None:
    """Return whether a runner holds the job's lock (None when this file system cannot tell).

    flock reaches other hosts on NFSv4 (Linux maps it onto NFS locks), so a job folder on
    shared storage says whether its runner elsewhere still lives.
    """
    try:
        fd = os.open(Path(job_dir) / LOCK, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO: no wait
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no locks on this file system
        return None
    finally:
        os.close(fd)  # closing drops the probe's own shared lock
    return False


def take(job_dir: str | Path, starting: bool = False) -> int:
    """Lock the job for one runner and return the lock's file descriptor.

    A launcher passes `starting=True` and later names its runner with `write_holder`.
    Raises BadInput naming the live runner's pid when another process holds it.
    """
    job_dir = Path(job_dir)
    try:
        fd = os.open(job_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise WorkFailed(f"cannot lock job {job_dir.name}", f"{job_dir / LOCK}: "
                         f"{error.strerror or error}", "make the job folder writable (and the "
                         "disk not full), then try again") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid, still_starting = _runner_pid(job_dir)
        why = ("another runner is starting it" if pid is None else
               f"pid {pid} is starting its runner" if still_starting else f"pid {pid} is training it")
        raise BadInput(f"job {job_dir.name} already has a runner", why,
                       f"wait for it, or stop it with `ptm-tui stop {job_dir.name}`") from None
    write_holder(fd, os.getpid(), starting)
    return fd


def write_holder(fd: int, pid: int, starting: bool = False) -> None:
    """Record `pid` as the process holding the lock (a launcher marks itself as starting)."""
    text = f"{pid} {STARTING}\n" if starting else f"{pid}\n"
    os.pwrite(fd, text.encode().ljust(32), 0)  # one write, never an empty file between two


def inherited() -> int | None:
    """Return the lock descriptor the launcher handed to this runner, or None."""
    value = os.environ.pop(FD_ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: succeeds at once
    except OSError:
        return None
    return fd
