"""The base of the surgery dialogs: shared CSS, the preview line and EditDialog."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static
from textual.worker import get_current_worker

from tui.screens.base import error_text

PREVIEW_DELAY_S = 0.15
"""Wait this long after the last keystroke before previewing (parsing + meta shape check)."""

_CSS = """
{name} {{ align: center middle; }}
{name} .surgery-box {{ width: 90; max-width: 100%; height: auto; max-height: 100%;
                       border: thick $primary; background: $surface; padding: 0 1;
                       overflow-y: auto; }}
{name} .surgery-title {{ text-style: bold; margin-bottom: 1; }}
{name} .surgery-muted {{ color: $text-muted; }}
{name} .surgery-preview {{ height: auto; min-height: 2; margin-top: 1; }}
{name} .surgery-preview.-bad {{ color: $error; }}
{name} .surgery-preview.-good {{ color: $success; }}
{name} .surgery-row {{ height: auto; }}
{name} .surgery-row > Vertical {{ width: 1fr; height: auto; }}
{name} .surgery-buttons {{ height: auto; dock: bottom; }}
{name} .surgery-buttons Button {{ margin-right: 1; }}
{name} DataTable {{ height: auto; max-height: 16; }}
"""


def dialog_css(name: str) -> str:
    """Return the surgery dialogs' CSS for the screen class `name`.

    The buttons are docked at the bottom of the box and the rest scrolls, so a long report or a
    short terminal never pushes them off the screen.
    """
    return _CSS.format(name=name)


def one_line(module: Any) -> str:
    """Return a module's repr on one line (shortened)."""
    text = " ".join(line.strip() for line in repr(module).splitlines())
    return text if len(text) <= 120 else text[:117] + "..."


def show_in_preview(screen: Any, text: str, ok: bool | None) -> None:
    """Draw `text` in the screen's #preview line: red when ok is False, green when True."""
    preview = screen.query_one("#preview", Static)
    preview.update(Text(text))  # plain text: paths, file contents and expressions carry brackets
    preview.set_class(ok is False, "-bad")
    preview.set_class(ok is True, "-good")


class EditDialog(ModalScreen[dict[str, Any] | None]):
    """Base of the dialogs that build one edit, preview it on a meta copy, and return it."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="surgery.cancel"),
    ]

    def __init__(self, workbench: Any) -> None:
        super().__init__()
        self.workbench = workbench
        self.edit: dict[str, Any] | None = None
        """The edit as the fields describe it now (None when they do not make one)."""
        self.preview_ok = False
        self._timer: Any = None

    def preview_widget(self) -> Static:
        """Return the preview line."""
        return Static("", id="preview", classes="surgery-preview")

    def buttons(self, label: str) -> ComposeResult:
        """Yield the Apply and Cancel buttons."""
        with Horizontal(classes="surgery-buttons"):
            yield Button(label, variant="primary", id="apply")
            yield Button("Cancel", id="cancel")

    def make_edit(self) -> dict[str, Any]:
        """Return the edit the fields describe, or raise PtmError saying what is wrong."""
        raise NotImplementedError

    def schedule_preview(self) -> None:
        """Preview the edit shortly (after typing pauses)."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY_S, self._start_preview)

    def _start_preview(self) -> None:
        from engine.errors import PtmError

        try:
            self.edit = self.make_edit()
        except PtmError as error:
            self.edit = None
            self.show_preview(error.message, ok=False)
            return
        self.show_preview("checking shapes...", ok=None)
        self.run_preview(dict(self.edit))

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False, name="preview")
    def run_preview(self, edit: dict[str, Any]) -> None:
        """Apply the edit to a meta copy and shape-check it (in a thread)."""
        from engine.edit.surgery_ops import dry_run
        from engine.errors import PtmError

        try:
            result = dry_run(self.workbench.model, edit, self.workbench.input_size)
            text, ok = self.describe(edit) + "\n" + result.text(), True
        except PtmError as error:
            text, ok = error.message, False
        except Exception as error:  # a preview never crashes the dialog
            text, ok = error_text(error), False
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._previewed, edit, text, ok)

    def _previewed(self, edit: dict[str, Any], text: str, ok: bool) -> None:
        """Show a preview's result, unless the fields have changed since it started."""
        if edit == self.edit:
            self.show_preview(text, ok)

    def describe(self, edit: dict[str, Any]) -> str:
        """Return what the edit will put in the model, in words."""
        return ""

    def show_preview(self, text: str, ok: bool | None) -> None:
        """Draw the preview text, green when the edit fits and red when it does not."""
        show_in_preview(self, text, ok)
        self.preview_ok = bool(ok)

    def action_apply(self) -> None:
        """Return the edit when it is valid and its shapes fit (else say why and stay open)."""
        from engine.edit.surgery_ops import dry_run
        from engine.errors import PtmError

        try:
            edit = self.make_edit()
            if not (self.preview_ok and edit == self.edit):  # else the preview checked it
                dry_run(self.workbench.model, edit, self.workbench.input_size)
        except PtmError as error:
            self.show_preview(error.message, ok=False)
            return
        self.dismiss(edit)

    def action_cancel(self) -> None:
        """Close without an edit."""
        self.dismiss(None)

    @on(Button.Pressed, "#apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self.schedule_preview()
