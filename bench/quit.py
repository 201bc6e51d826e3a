"""Quit time of the TUI in a real pty (80x24): `q` to the process gone, against plain Python.

    python bench/quit.py            # about a minute

Prints three times, best of 3 each: `ptm-tui resnet18 --weights none` idle with its tree shown;
`ptm-tui vit_h_14 --weights none` while its open worker is still building the model (work
that `q` throws away); and the reference, a plain `python` that imported torch, built
resnet18 and then exits normally (sys.exit: the interpreter's teardown, which the app paid on
every quit before). Target: under 0.5 s in both TUI cases.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

PLAIN = ("import sys, torch, torchvision; m = torchvision.models.resnet18(); "
         "print('ready', flush=True); sys.stdin.readline(); sys.exit(0)")


def _drain(fd: int, seconds: float, until: bytes = b"") -> bytes:
    seen = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until and until in seen):
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def quit_time(argv: list[str], settle: float, key: bytes, until: bytes = b"") -> float:
    """Start `argv` in an 80x24 pty, wait, send `key`; return seconds until the process ended."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, *argv])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    _drain(fd, 120, until) if until else None
    _drain(fd, settle)
    os.write(fd, key)
    start = time.perf_counter()
    while not os.waitpid(pid, os.WNOHANG)[0]:
        _drain(fd, 0.01)
    took = time.perf_counter() - start
    os.close(fd)
    return took


def main() -> None:
    """Measure and print the three quit times."""
    cases = [
        ("ptm-tui resnet18, idle (tree shown)",
         ["-m", "tui.cli.main", "resnet18", "--weights", "none"], 12.0, b"q", b""),
        ("ptm-tui vit_h_14, still building",
         ["-m", "tui.cli.main", "vit_h_14", "--weights", "none"], 7.0, b"q", b""),
        ("plain python: torch + resnet18, sys.exit",
         ["-c", PLAIN], 0.5, b"\n", b"ready"),
    ]
    for label, argv, settle, key, until in cases:
        times = [quit_time(argv, settle, key, until) for _ in range(3)]
        print(f"{label:45s} best {min(times):.2f} s  (runs: "
              f"{', '.join(f'{t:.2f}' for t in times)})", flush=True)


if __name__ == "__main__":
    main()
