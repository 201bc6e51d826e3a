"""Run the real `ptm-tui` in a fresh process, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def ptm(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
        **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run `ptm-tui ARGS` in a fresh python with the test's environment (plus `env`); return
    what it printed and its exit code."""
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT,
                          **kw)
