"""Export the autograd graph from the explorer: a path, then engine.inspect.graph in a worker."""

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


class GraphDialog(ModalScreen[Path | None]):
    """Write the autograd graph of one forward pass (.pdf/.svg/.png via Graphviz, or .dot).

    Without Graphviz the .dot source is still written and the dialog says where, and how to
    render it (as `ptm-tui graph` does); the result is the file written, None when cancelled.
    """

    DEFAULT_CSS = dialog_css("GraphDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "close", "Close", id="graph.close"),
    ]

    def __init__(self, workbench: Any, path: str = "") -> None:
        super().__init__()
        self.workbench = workbench
        safe = workbench.name.replace("/", "_").replace(":", "_")
        self.path = path or f"{safe}-graph.pdf"
        self.written: Path | None = None
        """The file written (the .dot source when Graphviz is missing)."""
        self._overwrite: Path | None = None

    def compose(self) -> ComposeResult:
        """Path box, status line and buttons."""
        with Vertical(classes="surgery-box"):
            yield Static("Export the autograd graph", classes="surgery-title")
            yield Label(".pdf, .svg or .png (rendered by Graphviz's dot), or .dot (the source)")
            yield Input(self.path, id="path")
            yield Static("", id="preview", classes="surgery-preview")
            with Horizontal(classes="surgery-buttons"):
                yield Button("Export", variant="primary", id="export")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Focus the path box."""
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        """Export in a thread; an existing file is replaced only when asked twice."""
        text = self.query_one("#path", Input).value.strip()
        if not text or worker_running(self, "graph"):
            return
        path = Path(text).expanduser().absolute()
        if path.exists() and path != self._overwrite:
            self._overwrite = path
            show_in_preview(self, f"{path} already exists: press enter again to replace it, "
                            "or change the name", ok=False)
            return
        show_in_preview(self, f"running a forward pass and writing {path}...", ok=None)
        self.export(path)

    @on(Input.Changed, "#path")
    def _path_changed(self) -> None:
        self._overwrite = None

    @work(thread=True, exclusive=True, group="graph", exit_on_error=False, name="graph")
    def export(self, path: Path) -> None:
        """Write the graph; say where it went, or why it could not be rendered."""
        from engine.errors import PtmError
        from engine.inspect.graph import GraphvizMissing, export_graph

        size = tuple(self.workbench.input_size or (1, 3, 224, 224))
        try:
            files = export_graph(self.workbench.model, path, None, size)
        except GraphvizMissing as missing:  # the .dot source is there: say how to render it
            self.written = missing.dot_path
            self.app.call_from_thread(show_in_preview, self, missing.message, False)
            return
        except (PtmError, OSError) as error:
            self.app.call_from_thread(show_in_preview, self, error_text(error), False)
            return
        self.written = files.rendered or files.dot_path
        self.app.call_from_thread(
            show_in_preview, self,
            f"wrote the graph ({files.nodes} nodes) to {self.written}  (escape closes)", True)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close; the result is the file written (None when nothing was)."""
        if worker_running(self, "graph"):
            self.notify("the graph is still being written: wait a moment", timeout=3)
            return
        self.dismiss(self.written)
