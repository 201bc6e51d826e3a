"""The open model's recipe, saved under $PTM_HOME after every edit, so a dropped connection or a
crash loses nothing: opening the same model again offers to replay it."""

from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.edit.recipe import Recipe, dumps, loads
from engine.errors import PtmError
from engine.home import ptm_home

MAX_BYTES = 4 << 20
"""An autosave larger than this is not read (a recipe is a few KB; this is not one)."""


def autosave_folder() -> Path:
    """Return the folder that holds one autosaved recipe per model and weights."""
    return ptm_home() / "autosave"


def autosave_path(name: str, weights: str) -> Path:
    """Return where the recipe of `name` opened with `weights` is autosaved."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[-48:] or "model"
    digest = hashlib.sha256(f"{name}\0{weights}".encode()).hexdigest()[:12]
    return autosave_folder() / f"{slug}-{digest}.toml"


def autosave(recipe: dict[str, Any]) -> Path | None:
    """Write `recipe` (a Workbench.recipe(), with the explorer's "train" settings when any)
    atomically to its autosave file; a recipe without edits removes the file instead. Return
    the file written, or None."""
    model = recipe["model"]
    path = autosave_path(str(model["name"]), str(model.get("weights", "none")))
    if not recipe.get("edit"):
        discard(str(model["name"]), str(model.get("weights", "none")))
        return None
    atomic_write_text(path, dumps({**recipe, "train": recipe.get("train") or None}))
    return path


def discard(name: str, weights: str) -> None:
    """Remove the autosaved recipe of `name` with `weights` (nothing to remove is fine)."""
    with contextlib.suppress(FileNotFoundError):
        autosave_path(name, weights).unlink()


def _read(path: Path) -> Recipe | None:
    """Return the recipe in an autosave file, or None when it is not a readable recipe."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        return loads(path.read_text(encoding="utf-8"), path)
    except (OSError, UnicodeDecodeError, PtmError):
        return None


def autosaved(name: str, weights: str) -> Recipe | None:
    """Return the autosaved recipe of `name` opened with `weights` when it has edits, else None."""
    recipe = _read(autosave_path(name, weights))
    if recipe is None or not recipe.edits:
        return None
    if recipe.model.get("name") != name or recipe.model.get("weights") != weights:
        return None
    return recipe


def latest() -> Recipe | None:
    """Return the newest autosaved recipe with edits (for `ptm-tui --restore`), else None."""
    try:
        files = [f for f in autosave_folder().glob("*.toml") if f.is_file()]
    except OSError:
        return None
    for file in sorted(files, key=lambda f: f.stat().st_mtime, reverse=True):
        recipe = _read(file)
        if recipe is not None and recipe.edits:
            return recipe
    return None
