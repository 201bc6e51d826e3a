"""Files named in recipes (weights, an edit's source): one rule that makes them absolute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NOT_PATHS = ("default", "pretrained", "none", "random", "")
"""Weights values that name no file."""


def resolve_path(value: Any, base: Path | None = None) -> Any:
    """Return a file named in a recipe (weights, an edit's source) as an absolute path: beside the
    recipe file (`base`) first, else from the current folder. URLs, weights names and paths that
    exist in neither place are returned as they are. The one rule for recipes, specs and replay."""
    if not isinstance(value, str) or value.lower() in NOT_PATHS or "://" in value:
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    for near in ((base / path) if base is not None else None, path):
        if near is not None and near.exists():
            return str(near.resolve())
    return value


def resolved_edit(edit: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """Return the edit with its file `source` (load_partial) made absolute by resolve_path."""
    if "source" not in edit:
        return edit
    return {**edit, "source": resolve_path(edit["source"], base)}
