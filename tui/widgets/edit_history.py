"""The edit-history panel: every edit in force on the workbench, oldest first, with its summary."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.format import human_bytes

POLL_S = 0.25
"""How often the panel looks for new edits while it is visible (a cheap comparison)."""


def history_text(history: list[tuple[dict[str, Any], str]], undone: int = 0,
                 undoable: int | None = None, undo_bytes: int = 0) -> Text:
    """Return the numbered list of edits (op in bold, then its summary) as Rich text.

    The first len(history) - undoable edits are marked: their undo copies were let go.
    """
    kept = len(history) if undoable is None else undoable
    if not history:
        text = Text("no edits yet", style="italic dim")
    else:
        text = Text()
        for index, (edit, summary) in enumerate(history, start=1):
            if index > 1:
                text.append("\n")
            text.append(f"{index:>2}. ", style="dim")
            text.append(str(edit.get("op", "?")), style="bold")
            text.append(f"  {summary}")
            if index <= len(history) - kept:
                text.append("  (no undo)", style="italic dim")
    if undone:
        text.append(f"\n({undone} undone: ctrl+r redoes)", style="italic dim")
    if undo_bytes:
        text.append(f"\nundo copies hold {human_bytes(undo_bytes)}", style="dim")
    return text


class EditHistory(VerticalScroll):
    """A panel listing workbench.history; it redraws itself when the edits change.

    Beside the layer panel on wide screens; under the tree and panel below 110 columns, where a
    third column would squeeze the panel into unreadable slivers. It keeps its newest line in view;
    Tab focuses it, and j k g G scroll it.
    """

    can_focus = True

    DEFAULT_CSS = """
    EditHistory { width: 1fr; max-width: 60; height: 1fr; border: round $primary;
                  padding: 0 1; overflow-y: auto; scrollbar-gutter: stable; }
    """

    def __init__(self, workbench: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workbench = workbench
        self._seen: tuple | None = None
        self.border_title = "edits"
        self.text = Text()
        """The list as shown (a VerticalScroll scrolls what a Static alone would cut off)."""

    def compose(self) -> ComposeResult:
        """The list of edits, scrolled as a whole."""
        yield Static("", id="edit-history-text")

    def update(self, text: Text) -> None:
        """Show `text` as the list."""
        self.text = text
        self.query_one("#edit-history-text", Static).update(text)

    def on_mount(self) -> None:
        """Draw now and keep up with new edits, undo and redo."""
        self.refresh_history()
        self.set_interval(POLL_S, self.refresh_history)

    def _bench(self) -> Any:
        """The workbench shown: the one given, else the screen's (once its model has opened)."""
        if self.workbench is None:
            self.workbench = getattr(self.screen, "workbench", None)
        return self.workbench

    def _signature(self) -> tuple:
        wb = self._bench()
        if wb is None:
            return ()
        return (id(wb), tuple(id(e) for e in wb.edits), wb.redoable, wb.undoable)

    def refresh_history(self, force: bool = False) -> None:
        """Redraw the list when the workbench's edits changed since the last draw."""
        if not self.display and not force:
            return
        signature = self._signature()
        if signature == self._seen and not force:
            return
        self._seen = signature
        wb = self._bench()
        if wb is None:
            self.update(history_text([]))
            return
        self.update(history_text(wb.history, wb.redoable, wb.undoable, wb.undo_bytes()))
        self.call_after_refresh(self.scroll_end, animate=False)
