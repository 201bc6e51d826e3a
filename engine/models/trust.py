"""Code is chosen by the user, never by a file.

A model named `pkg.mod:factory` or `path/to/file.py:Class` is Python that runs when the model is
built. The user may type such a name (as MODEL, in a recipe they run by name), but a weights
file's meaning, a checkpoint, or a recipe found inside a job folder or bundle comes from wherever
the file came from: rebuilding from it may use only the catalog's builders (torchvision,
`timm/<name>`), unless the user says `--trust-code` (as Hugging Face's `trust_remote_code`).
Every path that rebuilds a model from a file asks `check_code_allowed` first.
"""

from __future__ import annotations

from typing import Any

from engine.errors import BadInput

TRUST_FLAG = "--trust-code"


def names_code(name: Any) -> bool:
    """Return True when model name `name` would import code (`pkg.mod:factory`, `file.py:Class`).

    Any name holding ":" counts: the catalog's own names (torchvision's, `timm/<name>`) never do.
    """
    return isinstance(name, str) and ":" in name


class CodeRefused(BadInput):
    """A file or job folder names code to build its model, and the user has not trusted it."""


def check_code_allowed(name: Any, source: str, trusted: bool) -> None:
    """Raise CodeRefused when model `name`, read from `source` (in words: "the meaning saved in
    x.pth"), names code to import and the user has not passed --trust-code; else return."""
    if trusted or not names_code(name):
        return
    module, _, attr = str(name).rpartition(":")
    raise CodeRefused(
        f"{source} names code to run: {name}",
        f"rebuilding its model would import {module} and call {attr}; a weights file, checkpoint "
        "or job folder may come from anyone, so it never chooses code (none of it was run)",
        f"only if you trust that code, run again with {TRUST_FLAG} (the TUI too: ptm-tui "
        f"{TRUST_FLAG} ...); or pass the model yourself: {name} as MODEL with --weights FILE, "
        "or a recipe .toml you wrote",
    )
