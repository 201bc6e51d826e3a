"""Where ptm-tui keeps its state: $PTM_HOME (jobs, autosaved recipes, the TUI's error log)."""

from __future__ import annotations

import os
from pathlib import Path


def ptm_home() -> Path:
    """Return the state folder: $PTM_HOME, else $XDG_STATE_HOME/ptm-tui, else ~/.local/state/ptm-tui."""
    if os.environ.get("PTM_HOME"):
        return Path(os.environ["PTM_HOME"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "ptm-tui"
