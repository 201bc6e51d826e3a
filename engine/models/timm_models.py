"""timm, when it is installed: whether it is, and what to tell a user who asks for it when it is not."""

from __future__ import annotations

import importlib.util

from engine.errors import BadInput


def timm_available() -> bool:
    """Return True when timm can be imported."""
    return importlib.util.find_spec("timm") is not None


def timm_missing(name: str) -> BadInput:
    """Return the error for a timm model when timm is not installed."""
    return BadInput(f"cannot open {name}", "timm is not installed (it is optional)",
                    "pip install timm  (or pip install 'ptm-tui[timm]')")
