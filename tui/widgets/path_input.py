"""A text field for a file or folder path that completes it with Tab, as a shell does: the
rest of the only (or the common start of several) matching names is suggested in grey while
typing, and Tab takes it; with nothing to complete (or a whole path typed), Tab moves on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.suggester import Suggester
from textual.widgets import Input

MAX_NAMES = 2000
"""Look at no more names than this in one folder (a huge folder must not stall typing)."""


def complete_path(text: str) -> str | None:
    """Return `text` completed to the longest start shared by the names it can continue to
    (a folder gets its `/`), or None when nothing longer matches or `text` already names a file
    or folder (Tab after a whole path moves on rather than turning `digits` into `digits/digit_`)."""
    if not text:
        return None
    expanded = os.path.expanduser(text)
    if os.path.lexists(expanded):
        return None
    folder, _, start = expanded.rpartition(os.sep)
    where = Path(folder or ("/" if expanded.startswith(os.sep) else "."))
    try:
        names = []
        with os.scandir(where) as entries:
            for number, entry in enumerate(entries):
                if number >= MAX_NAMES:
                    break
                if entry.name.startswith(start) and (start.startswith(".") or not entry.name.startswith(".")):
                    names.append(entry.name + (os.sep if entry.is_dir() else ""))
    except OSError:
        return None
    if not names:
        return None
    shared = os.path.commonprefix(names)  # noqa: RUF071 (names, not paths: by character)
    if len(shared) <= len(start):
        return None
    return text[: len(text) - len(start)] + shared


class PathSuggester(Suggester):
    """Suggests the completion of a typed path (read from the disk on every change)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        """Return the completed path, or None."""
        return complete_path(value)


class PathInput(Input):
    """An Input for paths: Tab completes (as far as the names agree), else moves focus."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete path", show=False, id="path.complete"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("suggester", PathSuggester())
        super().__init__(*args, **kwargs)

    def action_complete(self) -> None:
        """Take the completion of the typed path; with none, let Tab move the focus."""
        completed = complete_path(self.value) if self.cursor_at_end else None
        if completed is None:
            raise SkipAction()
        self.value = completed
        self.cursor_position = len(completed)
