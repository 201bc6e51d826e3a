"""Hand the model on from the explorer: a torch.export archive, ONNX, TorchScript or safetensors
(by the file's suffix),
written with its preprocessing and class names and checked against torch, as `ptm-tui export`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import work
from textual.binding import Binding

from tui.screens.base import error_text
from tui.screens.edit.edit_dialog import dialog_css, show_in_preview
from tui.screens.use.write_file_dialog import WriteFileDialog


class ExportDialog(WriteFileDialog):
    """Export the explorer's model as it is now (edits included); the result is the file written."""

    DEFAULT_CSS = dialog_css("ExportDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "close", "Close", id="export.close"),
    ]
    HEADING = "Export the model"
    HINT = ".pt2 (torch.export), .onnx (onnxruntime, TensorRT), .pt (TorchScript) or .safetensors"
    NOTE = "the file is run on a sample batch and compared with torch before it is kept"
    GROUP = "export"
    SUFFIX = ".pt2"

    def refusal(self, path: Path) -> str | None:
        """A suffix no format writes, or a format whose tools are missing, is refused at once."""
        from engine.errors import PtmError
        from engine.use.export import check_tools, export_format

        try:
            check_tools(export_format(path, None))
        except PtmError as error:
            return error_text(error)
        return None

    def start(self, path: Path) -> None:
        """Say what runs, then export in a thread."""
        from engine.use.export import export_format

        fmt = export_format(path, None)
        show_in_preview(self, f"exporting as {fmt} and checking it against torch...", ok=None)
        self.export(path, fmt)

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
