"""Load a comparison in the explorer: weights to compare the open model with, read in a worker."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui.screens.base import error_text, worker_running
from tui.screens.edit.edit_dialog import dialog_css, show_in_preview
from tui.widgets.path_input import PathInput

Comparison = tuple[str, dict[str, Any]]
"""(what was compared with, in words; each module path's engine.use.diff.LayerChange)."""


class CompareDialog(ModalScreen[Comparison | None]):
    """Ask for weights B (a file, a checkpoint, a job id, MODEL or MODEL@WEIGHTS) and compare the
    open model (A) with them, as `ptm-tui diff` does; the result is the comparison, None when closed."""

    DEFAULT_CSS = dialog_css("CompareDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "close", "Close", id="compare.close"),
    ]

    def __init__(self, workbench: Any, spec: str = "") -> None:
        super().__init__()
        self.workbench = workbench
        self.spec = spec
        self.result: Comparison | None = None

    def compose(self) -> ComposeResult:
        """Spec box, status line and buttons."""
        with Vertical(classes="surgery-box"):
            yield Static("Compare with other weights", classes="surgery-title")
            yield Label("a weights file or checkpoint, a job id, MODEL or MODEL@WEIGHTS")
            yield PathInput(self.spec, id="spec", placeholder="e.g. job id or finetuned.pth")
            yield Static("", id="preview", classes="surgery-preview")
            with Horizontal(classes="surgery-buttons"):
                yield Button("Compare", variant="primary", id="compare")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Focus the spec box."""
        self.query_one("#spec", Input).focus()

    @on(Input.Submitted, "#spec")
    @on(Button.Pressed, "#compare")
    def action_compare(self) -> None:
        """Read the weights and compare in a thread."""
        text = self.query_one("#spec", Input).value.strip()
        if not text or worker_running(self, "compare"):
            return
        show_in_preview(self, f"reading {text} and comparing...", ok=None)
        self.compare(text)

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, name="compare")
    def compare(self, spec: str) -> None:
        """Compare the open model with `spec`'s weights; close with the result, or say why not."""
        from engine.errors import PtmError
        from engine.jobs.job_weights import weights_of
        from engine.use.diff import changes_by_module, model_buffers
        from tui.cli.cmd_diff import resolve_spec

        try:
            weights, label, buffers = weights_of(resolve_spec(spec))
            model = self.workbench.model
            changes = changes_by_module(model.state_dict(), weights, buffers | model_buffers(model))
        except (PtmError, OSError) as error:
            self.app.call_from_thread(show_in_preview, self, error_text(error), False)
            return
        if not changes:
            self.app.call_from_thread(show_in_preview, self, f"{label} shares no tensor with this "
                                      "model (no name with the same shape)", False)
            return
        self.result = (label, changes)
        self.app.call_from_thread(self.dismiss, self.result)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close without a comparison."""
        if worker_running(self, "compare"):
            self.notify("still comparing: wait a moment", timeout=3)
            return
        self.dismiss(None)
