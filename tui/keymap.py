"""The user's key remapping: a TOML file of binding id = "keys" (e.g. explorer.freeze = "z")."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.screen import Screen


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
    except RecursionError:  # tomllib recurses once per nesting level
        return {}, f"keymap {path} was not read: it is nested too deeply. Fix the file or remove it."
    keys = table.get("keys", table)
    bad = [name for name, value in keys.items() if not isinstance(value, str)]
    if bad:
        return ({k: v for k, v in keys.items() if isinstance(v, str)},
                f"keymap {path}: {', '.join(bad)} should be a string of keys such as \"z\" or \"z,ctrl+z\".")
    return dict(keys), None


def known_binding_ids(app_class: type) -> set[str]:
    """Return every binding id a keys.toml may remap (the app's, every screen's and widget's)."""
    import importlib
    import pkgutil

    from textual.binding import Binding
    from textual.dom import DOMNode

    import tui.screens
    import tui.widgets

    for package in (tui.screens, tui.widgets):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    ids: set[str] = set()
    classes: list[type] = [DOMNode, app_class]  # the app class: its own bindings
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        ids.update(b.id for b in cls.__dict__.get("BINDINGS", ()) if isinstance(b, Binding) and b.id)
    return ids


def unknown_ids_message(keymap: dict[str, str], app_class: type,
                        path: Path | None = None) -> str | None:
    """Return a warning naming the keymap's ids that match no binding (they do nothing), or None."""
    unknown = sorted(set(keymap) - known_binding_ids(app_class))
    if not unknown:
        return None
    return (f"keymap {path or keymap_path()}: {', '.join(unknown)} "
            f"{'is not a key id' if len(unknown) == 1 else 'are not key ids'} and "
            f"{'was' if len(unknown) == 1 else 'were'} ignored. "
            "The help screen (?) lists each key's id, e.g. explorer.freeze.")


@dataclass
class KeyRow:
    """One thing a key does on a screen: the keys (Textual names), as shown, and where it acts."""

    keys: list[str]
    shown: str
    description: str
    action: str
    node: object
    binding_id: str
    enabled: bool


def key_rows(screen: Screen) -> list[KeyRow]:
    """Return what each key does on `screen` right now, one row per action and widget.

    Read from the bindings Textual would use for a key press (the focused widget's, its
    containers', the screen's and the app's, after the user's keymap), so a key another binding
    shadows is not listed and every listed key does what its row says.
    """
    app = screen.app
    rows: dict[tuple[int, str], KeyRow] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description:
            continue
        row = rows.get((id(active.node), binding.action))
        if row is None:
            rows[(id(active.node), binding.action)] = KeyRow(
                [key], app.get_key_display(binding), binding.description, binding.action,
                active.node, binding.id or "", active.enabled)
        elif key not in row.keys:
            row.keys.append(key)
            row.shown += " " + app.get_key_display(binding)
            row.binding_id = row.binding_id or binding.id or ""
    return list(rows.values())


def key_table(screen: Screen) -> list[tuple[str, str, str, object, str]]:
    """Return (keys, description, action, node, binding id) for every binding active on `screen`."""
    return [(row.shown, row.description, row.action, row.node, row.binding_id)
            for row in key_rows(screen)]
