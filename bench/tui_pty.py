"""The TUI as a user meets it: a real pseudo-terminal, keys written to it, the screen read back.

    python bench/tui_pty.py [--root DIR] [--runs 3] [--size 80x24]

Launches `ptm-tui` in a pty and prints, each as the best and median of --runs fresh processes:
  first frame   launch -> the first bytes of the explorer's header (resnet50, `--weights none`)
  tree ready    launch -> the header's parameter counts (the model built, the tree drawn)
  cursor move   `j` written -> the redraw's first bytes, on an 11,101-module model (median of 20)
  quit          `q` written -> the process gone (resnet18, idle, tree shown)
against a one-Static Textual app's first frame in the same pty (the floor for any Textual app).
--root runs another checkout's code with this venv (e.g. a worktree of an older commit: before/after).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DEEP = '''from torch import nn


class Deep(nn.Sequential):
    """100 blocks of 10 groups of 10 Linear(4, 4): 11,101 modules."""

    def __init__(self):
        super().__init__(*[nn.Sequential(*[nn.Sequential(*[nn.Linear(4, 4) for _ in range(10)])
                                           for _ in range(10)]) for _ in range(100)])
'''

HELLO = ("from textual.app import App\nfrom textual.widgets import Static\n"
         "class A(App):\n    def compose(self):\n        yield Static('hello')\n"
         "A().run()\n")


class PtyApp:
    """A command running in a pseudo-terminal of a given size, its output read as it comes."""

    def __init__(self, command: list[str], cwd: Path, size: tuple[int, int], env: dict) -> None:
        self.start = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the app
            os.environ.update(env)
            os.chdir(cwd)
            os.execvp(command[0], command)
        cols, rows = size
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.seen = b""

    def read(self, timeout: float) -> bytes:
        """Return what the app wrote within `timeout` seconds (b"" when nothing)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:
            return b""
        self.seen += data
        return data

    def wait_for(self, marker: bytes, timeout: float = 120) -> float:
        """Return seconds since launch when `marker` first appeared in the output."""
        deadline = time.perf_counter() + timeout
        while marker not in self.seen:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{marker!r} never appeared")
            self.read(0.5)
        return time.perf_counter() - self.start

    def drain(self, quiet: float = 0.5) -> None:
        """Read until the app has written nothing for `quiet` seconds."""
        while self.read(quiet):
            pass

    def key_to_redraw(self, key: bytes, timeout: float = 10) -> float:
        """Write `key`; return seconds to the first bytes written back."""
        self.drain(0.3)
        start = time.perf_counter()
        os.write(self.fd, key)
        if not self.read(timeout):
            raise TimeoutError(f"no redraw after {key!r}")
        return time.perf_counter() - start

    def quit_time(self, key: bytes = b"q", timeout: float = 60) -> float:
        """Write `key`; return seconds until the process has exited."""
        self.drain(0.3)
        start = time.perf_counter()
        os.write(self.fd, key)
        deadline = start + timeout
        while time.perf_counter() < deadline:
            self.read(0.01)
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return time.perf_counter() - start
        raise TimeoutError("the app did not quit")

    def close(self) -> None:
        """Kill the app if it still runs."""
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def measure(root: Path, size: tuple[int, int], runs: int) -> dict[str, list[float]]:
    """Run every measurement `runs` times against the code in `root`."""
    work = Path(tempfile.mkdtemp(prefix="ptm-bench-"))
    (work / "deep.py").write_text(DEEP, encoding="utf-8")
    env = {"TERM": "xterm-256color", "TORCH_HOME": str(work / "torch"),
           "PTM_KEYMAP": str(work / "none.toml"), "PYTHONPATH": str(root)}
    ptm = [sys.executable, "-m", "tui.cli.main"]
    out: dict[str, list[float]] = {k: [] for k in ("hello", "first_frame", "tree_ready",
                                                    "cursor_move", "quit")}
    for _ in range(runs):
        hello = PtyApp([sys.executable, "-c", HELLO], root, size, env)
        out["hello"].append(hello.wait_for(b"hello"))
        hello.close()
        app = PtyApp([*ptm, "resnet50", "--weights", "none"], root, size, env)
        out["first_frame"].append(app.wait_for(b"resnet50"))
        out["tree_ready"].append(app.wait_for(b" trainable"))
        app.close()
        app = PtyApp([*ptm, f"{work / 'deep.py'}:Deep", "--weights", "none"], root, size, env)
        app.wait_for(b"Deep with 100 children")
        app.drain(1.0)
        moves = [app.key_to_redraw(b"j" if i % 2 == 0 else b"k") for i in range(20)]
        out["cursor_move"].append(statistics.median(moves))
        app.close()
        app = PtyApp([*ptm, "resnet18", "--weights", "none"], root, size, env)
        app.wait_for(b" trainable")
        app.drain(1.0)
        out["quit"].append(app.quit_time())
        app.close()
    return out


def main() -> int:
    """Measure and print one line per measurement: best, median, all runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="80x24", help="terminal COLSxROWS")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.split("x"))
    results = measure(args.root.resolve(), (cols, rows), args.runs)
    names = {"hello": "one-Static Textual app, first frame", "first_frame": "first frame (resnet50)",
             "tree_ready": "tree ready (resnet50, from launch)",
             "cursor_move": "cursor move, 11,101 modules (median)", "quit": "quit (resnet18, idle)"}
    print(f"{args.root}  {cols}x{rows}  {args.runs} runs")
    for key, label in names.items():
        values = results[key]
        print(f"  {label:40s} best {min(values) * 1000:7.0f} ms   median "
              f"{statistics.median(values) * 1000:7.0f} ms   "
              f"({', '.join(f'{v * 1000:.0f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
