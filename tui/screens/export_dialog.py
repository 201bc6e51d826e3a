"""Hand the model on from the explorer: ONNX, TorchScript or safetensors (by the file's suffix),
written with its preprocessing and class names and checked against torch, as `ptm-tui export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui.screens.base import error_text, worker_running
from tui.screens.edit_dialog import dialog_css, show_in_preview


class ExportDialog(ModalScreen[Path | None]):
    """Export the explorer's model as it is now (edits included); the result is the file written."""

    DEFAULT_CSS = dialog_css("ExportDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "close", "Close", id="export.close"),
    ]

    def __init__(self, workbench: Any, path: str = "") -> None:
        super().__init__()
        self.workbench = workbench
        safe = workbench.name.replace("/", "_").replace(":", "_")
        self.path = path or f"{safe}.onnx"
        self.written: Path | None = None
        self._overwrite: Path | None = None

    def compose(self) -> ComposeResult:
        """Path box, status line and buttons."""
        with Vertical(classes="surgery-box"):
            yield Static("Export the model", classes="surgery-title")
            yield Label(".onnx (onnxruntime, TensorRT, Netron), .pt (TorchScript) or .safetensors")
            yield Input(self.path, id="path")
            yield Static("the file is run on a sample batch and compared with torch before it is kept",
                         id="preview", classes="surgery-preview")
            with Horizontal(classes="surgery-buttons"):
                yield Button("Export", variant="primary", id="export")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Focus the path box."""
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        """Check the name, then export in a thread; an existing file is replaced only when asked twice."""
        from engine.errors import PtmError
        from engine.use.export import check_tools, export_format

        text = self.query_one("#path", Input).value.strip()
        if not text or worker_running(self, "export"):
            return
        path = Path(text).expanduser().absolute()
        try:
            fmt = export_format(path, None)
            check_tools(fmt)
        except PtmError as error:
            show_in_preview(self, error_text(error), ok=False)
            return
        if path.exists() and path != self._overwrite:
            self._overwrite = path
            show_in_preview(self, f"{path} already exists: press enter again to replace it, "
                            "or change the name", ok=False)
            return
        show_in_preview(self, f"exporting as {fmt} and checking it against torch...", ok=None)
        self.export(path, fmt)

    @on(Input.Changed, "#path")
    def _path_changed(self) -> None:
        self._overwrite = None

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, name="export")
    def export(self, path: Path, fmt: str) -> None:
        """Write and check the file; say where it went and how close it is, or why it failed."""
        from engine.errors import PtmError
        from engine.outputs import check_output_file, writing
        from engine.train.export_source import from_workbench
        from engine.use.export import FORMATS, export_model

        wb = self.workbench
        try:
            source = from_workbench(wb, str(wb.weights))
            check_output_file(path, "the file", suffixes=FORMATS[fmt])
            with writing(path):
                report = export_model(source.model, fmt, path, source.input_shape, source.metadata())
        except (PtmError, OSError) as error:
            self.app.call_from_thread(show_in_preview, self, error_text(error), False)
            return
        self.written = report.path.resolve()
        names = source.class_names
        self.app.call_from_thread(
            show_in_preview, self,
            f"wrote {self.written} ({report.bytes / 1e6:.1f} MB); max abs difference vs torch "
            f"{report.max_abs_diff:.2g}; {len(names) if names else 'no'} class names  (escape closes)",
            True)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close; the result is the file written (None when nothing was)."""
        if worker_running(self, "export"):
            self.notify("the model is still being exported: wait a moment", timeout=3)
            return
        self.dismiss(self.written)
