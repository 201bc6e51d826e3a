"""The base of the explorer's "write a file" dialogs (graph, model export): a path box, a status
line, Export/Close; an existing file is replaced only when asked twice; the work runs in a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker

from tui.screens.base import worker_running
from tui.screens.edit.edit_dialog import show_in_preview
from tui.widgets.path_input import PathInput


class WriteFileDialog(ModalScreen[Path | None]):
    """Asks for a path and writes one file there; the result is the file written (None: none)."""

    HEADING = ""
    """The dialog's title."""
    HINT = ""
    """What the path may end with."""
    NOTE = ""
    """The status line before anything is written."""
    GROUP = "write"
    """The worker group of the writing (one at a time)."""
    SUFFIX = ""
    """The default file's suffix."""

    def __init__(self, workbench: Any, path: str = "") -> None:
        super().__init__()
        self.workbench = workbench
        safe = workbench.name.replace("/", "_").replace(":", "_")
        self.path = path or f"{safe}{self.SUFFIX}"
        self.written: Path | None = None
        self._overwrite: Path | None = None
        self._close_when_written = False

    def compose(self) -> ComposeResult:
        """Path box, status line and buttons."""
        with Vertical(classes="surgery-box"):
            yield Static(self.HEADING, classes="surgery-title")
            yield Label(self.HINT)
            yield PathInput(self.path, id="path")
            yield Static(self.NOTE, id="preview", classes="surgery-preview")
            with Horizontal(classes="surgery-buttons"):
                yield Button("Export", variant="primary", id="export")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Focus the path box."""
        self.query_one("#path", Input).focus()

    def refusal(self, path: Path) -> str | None:
        """Return why `path` cannot be written before any work (None when it can)."""
        return None

    def start(self, path: Path) -> None:
        """Start writing `path` in a worker of GROUP (subclasses)."""
        raise NotImplementedError

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        """Check the path, then write in a thread; an existing file is replaced only when asked twice."""
        text = self.query_one("#path", Input).value.strip()
        if not text or worker_running(self, self.GROUP):
            return
        path = Path(text).expanduser().absolute()
        refused = self.refusal(path)
        if refused:
            show_in_preview(self, refused, ok=False)
            return
        if path.exists() and path != self._overwrite:
            self._overwrite = path
            show_in_preview(self, f"{path} already exists: press enter again to replace it, "
                            "or change the name", ok=False)
            return
        self.written = None  # the result is this write's file (None when it fails)
        self.start(path)

    @on(Input.Changed, "#path")
    def _path_changed(self) -> None:
        self._overwrite = None

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close; the result is the file written (None when nothing was)."""
        if worker_running(self, self.GROUP):  # closes itself once the file is written
            self._close_when_written = True
            self.notify("the file is still being written: this closes when it is", timeout=3,
                        markup=False)
            return
        self.dismiss(self.written)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Close when the write asked to be closed on is done; a failed one stays to say why."""
        if self._close_when_written and event.worker.group == self.GROUP \
                and event.worker.is_finished:
            self._close_when_written = False
            if self.written is not None:
                self.dismiss(self.written)
