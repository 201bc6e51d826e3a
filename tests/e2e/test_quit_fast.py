"""A real terminal (a pty at 80x24): `q` quits at once, even while a worker is busy."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

import pytest

pytestmark = pytest.mark.slow

SLOW_MODEL = """
import time
from torch import nn


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        time.sleep(60)  # a model whose build keeps the open worker busy for a minute
        self.fc = nn.Linear(2, 2)
"""


def _read_until(fd: int, text: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in seen:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    assert text in seen, f"{text!r} never appeared"
    return seen


def _exit_status(pid: int, fd: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        ready, _, _ = select.select([fd], [], [], 0.02)
        if ready:
            with contextlib.suppress(OSError):
                os.read(fd, 65536)
    return None


def test_q_quits_at_once_while_the_model_is_still_being_built(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_MODEL)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command line in the pty
        os.chdir(tmp_path)
        os.environ.update(TERM="xterm-256color", TORCH_HOME=str(tmp_path / "torch"))
        os.execv(sys.executable, [sys.executable, "-m", "tui.cli.main", "slow.py:Slow",
                                  "--weights", "none"])
    code = None
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        _read_until(fd, b"importing torch", timeout=60)
        time.sleep(3)  # the open worker is now importing torch or inside Slow.__init__
        os.write(fd, b"q")
        started = time.monotonic()
        code = _exit_status(pid, fd, timeout=30)
        took = time.monotonic() - started
    finally:
        if code is None:  # still running (or never asked to quit)
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert code == 0
    assert took < 2.0, f"q took {took:.2f} s (the build it threw away had ~55 s to go)"
