"""The user's key remapping: a TOML file of binding id = "keys" (e.g. explorer.freeze = "z")."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path


def keymap_path() -> Path:
    """Return the keymap file: $PTM_KEYMAP, else $XDG_CONFIG_HOME/ptm-tui/keys.toml."""
    if os.environ.get("PTM_KEYMAP"):
        return Path(os.environ["PTM_KEYMAP"]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "ptm-tui" / "keys.toml"


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """Return (binding id -> keys, problem message or None); a missing file is an empty keymap."""
    path = path or keymap_path()
    if not path.is_file():
        return {}, None
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return {}, f"keymap {path} was not read: {error}. Fix the file or remove it."
    keys = table.get("keys", table)
    bad = [name for name, value in keys.items() if not isinstance(value, str)]
    if bad:
        return ({k: v for k, v in keys.items() if isinstance(v, str)},
                f"keymap {path}: {', '.join(bad)} should be a string of keys such as \"z\" or \"z,ctrl+z\".")
    return dict(keys), None
