"""TUI responsiveness, measured with Textual's Pilot, against plain-PyTorch references.

    python bench/tui.py            # all measurements (about a minute on a quiet 2-core machine)

Prints: time to the first frame of `ptm-tui resnet50` (in a fresh process) vs `import torch`;
resnet50's tree ready after torch is imported; key presses (cursor moves, freeze toggles) on a
synthetic model with 11,101 modules vs plain `requires_grad_` loops over the same modules.
The same measurements in a real pseudo-terminal at 80x24, before/after any commit: bench/tui_pty.py.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, json, sys, time
start = float(sys.argv[1])
from tui.app import PtmApp
imported = time.time()

async def main():
    app = PtmApp(model="resnet50", weights="none")
    async with app.run_test(size=(100, 30)) as pilot:
        from tui.screens.explore.explorer import ExplorerScreen
        while not isinstance(app.screen, ExplorerScreen):
            await pilot.pause(0.005)
        await pilot.pause(0)
        first_frame = time.time()
        screen = app.screen
        while "tree_ready" not in screen.timings:
            await pilot.pause(0.01)
        t = screen.timings
        print(json.dumps({"tui_imported_s": imported - start, "first_frame_s": first_frame - start,
                          "tree_after_torch_s": t["tree_ready"] - t["torch_imported"]}))

asyncio.run(main())
"""


def first_frame() -> dict[str, float]:
    """Launch a fresh process that opens the explorer on resnet50; return its timings."""
    start = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, str(start)], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_frame_pty(command: list[str], marker: bytes = b"importing torch") -> float:
    """Return seconds from launching `command` in a pseudo-terminal to `marker` on its screen."""
    import fcntl
    import os
    import pty
    import select
    import signal
    import struct
    import termios

    start = time.time()
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the app
        os.environ["TERM"] = "xterm-256color"
        os.chdir(ROOT)
        os.execvp(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    seen, took = b"", float("nan")
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            seen += os.read(fd, 1 << 16)
        except OSError:
            break
        if marker in seen:
            took = time.time() - start
            break
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return took


HELLO = ("from textual.app import App\nfrom textual.widgets import Static\n"
         "class A(App):\n    def compose(self):\n        yield Static('importing torch')\n"
         "A().run()\n")


def torch_import_s() -> float:
    """Return how long a fresh process takes to import torch and torchvision."""
    start = time.time()
    subprocess.run([sys.executable, "-c", "import torch, torchvision"], check=True)
    return time.time() - start


def deep_model(blocks: int = 100, per_block: int = 10, layers: int = 10):
    """A synthetic model with 11,101 modules (100 blocks of 10 groups of 10 Linear layers)."""
    from torch import nn

    return nn.Sequential(*[nn.Sequential(*[nn.Sequential(*[nn.Linear(4, 4)
                                                           for _ in range(layers)])
                                           for _ in range(per_block)])
                           for _ in range(blocks)])


async def big_model_keys(presses: int = 20) -> dict[str, float]:
    """Time cursor moves and freeze toggles on the synthetic model, with Pilot."""
    from engine.edit.workbench import Workbench
    from tui.app import PtmApp
    from tui.widgets.layer_tree import LayerTree

    model = deep_model()
    modules = sum(1 for _ in model.modules())
    app = PtmApp(workbench=Workbench(model=model, name="deep"))
    async with app.run_test(size=(100, 30)) as pilot:
        while not app.screen.query(LayerTree) or app.screen.query_one(LayerTree).model is None:
            await pilot.pause(0.01)
        tree = app.screen.query_one(LayerTree)
        tree.select_path("50")
        await pilot.pause(0.3)
        baseline, moves, toggles, root_toggles = [], [], [], []
        for _ in range(presses):  # a key nothing is bound to: Pilot's own round trip
            start = time.perf_counter()
            await pilot.press("f19")
            baseline.append(time.perf_counter() - start)
        for i in range(presses):
            start = time.perf_counter()
            await pilot.press("j" if i % 2 == 0 else "k")
            moves.append(time.perf_counter() - start)
        for _ in range(presses):
            start = time.perf_counter()
            await pilot.press("space")
            toggles.append(time.perf_counter() - start)
        tree.select_path("")
        await pilot.pause(0.3)
        for _ in range(4):
            start = time.perf_counter()
            await pilot.press("space")
            root_toggles.append(time.perf_counter() - start)
        assert tree.counts[""] == app.screen.workbench.counts()
    block = model[50]
    reference = []
    for i in range(presses):
        start = time.perf_counter()
        for param in block.parameters():
            param.requires_grad_(i % 2 == 1)
        reference.append(time.perf_counter() - start)
    start = time.perf_counter()
    for param in model.parameters():
        param.requires_grad_(False)
    root_reference = time.perf_counter() - start
    return {"modules": modules, "baseline_s": statistics.median(baseline),
            "move_median_s": statistics.median(moves),
            "move_max_s": max(moves), "toggle_block_median_s": statistics.median(toggles),
            "toggle_block_max_s": max(toggles),
            "toggle_block_torch_s": statistics.median(reference),
            "toggle_root_median_s": statistics.median(root_toggles),
            "toggle_root_torch_s": root_reference}


def main() -> int:
    """Run every measurement and print a table."""
    sys.path.insert(0, str(ROOT))
    torch_s = torch_import_s()
    frame = first_frame()
    pty_ours = min(first_frame_pty([sys.executable, "-m", "tui.cli.main", "resnet50",
                                    "--weights", "none"]) for _ in range(3))
    pty_hello = min(first_frame_pty([sys.executable, "-c", HELLO]) for _ in range(3))
    keys = asyncio.run(big_model_keys())
    ms = 1000
    print(f"first frame of `ptm-tui resnet50`     {frame['first_frame_s'] * ms:7.0f} ms"
          f"   (import torch+torchvision alone: {torch_s * ms:.0f} ms, "
          f"ratio {frame['first_frame_s'] / torch_s:.2f}; target < 500 ms)")
    print(f"  of which importing the TUI          {frame['tui_imported_s'] * ms:7.0f} ms")
    print(f"first frame in a real pty (best of 3) {pty_ours * ms:7.0f} ms"
          f"   (a one-Static Textual app: {pty_hello * ms:.0f} ms)")
    print(f"resnet50 tree ready after torch       {frame['tree_after_torch_s'] * ms:7.0f} ms"
          "   (target < 1000 ms)")
    print(f"synthetic model                       {keys['modules']:7d} modules")
    base = keys["baseline_s"]
    print(f"Pilot round trip of an unbound key    {base * ms:7.1f} ms   (included in the times "
          "below; 'net' subtracts it)")
    print(f"cursor move (j/k), median / max       {keys['move_median_s'] * ms:7.1f} / "
          f"{keys['move_max_s'] * ms:.1f} ms   net {(keys['move_median_s'] - base) * ms:.1f} ms"
          "   (target < 50 ms)")
    print(f"freeze toggle of a block, median/max  {keys['toggle_block_median_s'] * ms:7.1f} / "
          f"{keys['toggle_block_max_s'] * ms:.1f} ms   net "
          f"{(keys['toggle_block_median_s'] - base) * ms:.1f} ms   (plain requires_grad_ loop: "
          f"{keys['toggle_block_torch_s'] * ms:.2f} ms, ratio "
          f"{keys['toggle_block_median_s'] / keys['toggle_block_torch_s']:.0f})")
    print(f"freeze toggle of the whole model      {keys['toggle_root_median_s'] * ms:7.1f} ms"
          f"   (plain requires_grad_ loop: {keys['toggle_root_torch_s'] * ms:.1f} ms, ratio "
          f"{keys['toggle_root_median_s'] / keys['toggle_root_torch_s']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
