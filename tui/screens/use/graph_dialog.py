"""Export the autograd graph from the explorer: a path, then engine.inspect.graph in a worker."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import work
from textual.binding import Binding

from tui.screens.base import error_text
from tui.screens.edit.edit_dialog import dialog_css, show_in_preview
from tui.screens.use.write_file_dialog import WriteFileDialog


class GraphDialog(WriteFileDialog):
    """Write the autograd graph of one forward pass (.pdf/.svg/.png via Graphviz, or .dot).

    Without Graphviz the .dot source is still written and the dialog says where, and how to
    render it (as `ptm-tui graph` does); the result is the file written, None when cancelled.
    """

    DEFAULT_CSS = dialog_css("GraphDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "close", "Close", id="graph.close"),
    ]
    HEADING = "Export the autograd graph"
    HINT = ".pdf, .svg or .png (rendered by Graphviz's dot), or .dot (the source)"
    GROUP = "graph"
    SUFFIX = "-graph.pdf"

    def start(self, path: Path) -> None:
        """Say what runs, then write the graph in a thread."""
        show_in_preview(self, f"running a forward pass and writing {path}...", ok=None)
        self.export(path)

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
