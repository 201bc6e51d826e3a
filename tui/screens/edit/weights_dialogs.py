"""Surgery dialogs for weight files: load weights into the model, save weights or a recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from tui.navigation import NavigationKeys
from tui.screens.base import error_text, worker_running
from tui.screens.edit.edit_dialog import dialog_css, show_in_preview
from tui.widgets.path_input import PathInput


def short_shape(text: str) -> str:
    """Return a report's shape `[64, 3, 7, 7]` as `64x3x7x7` (shape columns stay narrow)."""
    return "x".join(part.strip() for part in text.strip("[]").split(",")) if text.startswith("[") \
        else text


def report_table(rows: list[tuple[str, str, str, str]], width: int
                 ) -> tuple[list[tuple[str, int]], list[tuple[str, ...]]]:
    """Return ((label, width) columns, rows) of a load report fitted into `width` cells.

    Shapes are shown whole; the key column gets what is left and long keys lose their start
    (`…layer4.1.conv2.weight`: the end names the tensor). Below 60 cells the model-shape column
    is dropped first (a mismatched row's checkpoint shape still shows what the file holds).
    """
    rows = [(status, key, short_shape(ckpt), short_shape(model)) for status, key, ckpt, model in rows]
    labels = ["status", "key", "checkpoint", "model"]
    widths = [max([len(label), *(len(row[i]) for row in rows)]) for i, label in enumerate(labels)]
    if width < 60:
        labels, widths, rows = labels[:3], widths[:3], [row[:3] for row in rows]
    padding = 2 * len(labels) + 4  # a cell each side of every column; the two scrollbars
    key_room = max(12, width - padding - sum(widths) + widths[1])
    widths[1] = min(widths[1], key_room)
    rows = [(row[0], row[1] if len(row[1]) <= key_room else "…" + row[1][-(key_room - 1):], *row[2:])
            for row in rows]
    return list(zip(labels, widths, strict=True)), rows


class LoadWeightsDialog(ModalScreen[dict[str, Any] | None], NavigationKeys):
    """Load a weights file into the model (by name and shape) and show the report as a table."""

    DEFAULT_CSS = dialog_css("LoadWeightsDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "close", "Close", id="surgery.load_close"),
    ]

    def __init__(self, workbench: Any, source: str = "") -> None:
        super().__init__()
        self.workbench = workbench
        self.source = source
        self.applied: dict[str, Any] | None = None
        """The load_partial edit when one was applied (the result of the dialog)."""

    def compose(self) -> ComposeResult:
        """Path, by-order switch, status line, report table and buttons."""
        with Vertical(classes="surgery-box"):
            yield Static("Load weights", classes="surgery-title")
            yield Label("file or URL (.pth, .pt, .bin, .safetensors)")
            yield PathInput(self.source, placeholder="weights/old.pth", id="source")
            yield Checkbox("map renamed keys by order and shape", id="by-order")
            yield Static("", id="preview", classes="surgery-preview")
            yield DataTable(id="report", zebra_stripes=True, cursor_type="row")
            with Horizontal(classes="surgery-buttons"):
                yield Button("Load", variant="primary", id="load")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Prepare the table and focus the path box."""
        self.query_one("#report", DataTable).display = False
        self.query_one("#source", Input).focus()

    @on(Input.Submitted, "#source")
    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        """Start loading the file in a thread."""
        source = self.query_one("#source", Input).value.strip()
        if not source:
            show_in_preview(self, "type the path of a weights file", ok=False)
            return
        edit: dict[str, Any] = {"op": "load_partial", "source": source}
        if self.query_one("#by-order", Checkbox).value:
            edit["by_order"] = True
        show_in_preview(self, f"loading {source}...", ok=None)
        self.load(edit)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False, name="load weights")
    def load(self, edit: dict[str, Any]) -> None:
        """Apply the load_partial edit through the workbench (undoable) in a thread."""
        from engine.errors import PtmError

        self.workbench.last_load_report = None
        try:
            summary = self.workbench.apply(edit)
            ok, text = True, summary
        except PtmError as error:
            ok, text = False, error.message
        report = getattr(self.workbench, "last_load_report", None)
        self.app.call_from_thread(self._show, edit if ok else None, text, ok, report)

    def _show(self, edit: dict[str, Any] | None, text: str, ok: bool, report: Any) -> None:
        if edit is not None:
            self.applied = edit
        from engine.models.weights.meaning import meaning_in_words

        said = meaning_in_words(getattr(report, "meaning", None)) if ok else ""
        notes = "\n".join([*(getattr(report, "warnings", []) or []), *([said] if said else [])])
        show_in_preview(self, text + (f"\n{notes}" if notes else ""), ok=ok)
        table = self.query_one("#report", DataTable)
        table.clear(columns=True)
        if report is not None:
            width = self.query_one(".surgery-box").content_region.width or 60
            columns, rows = report_table(report.rows(), width)
            for label, column_width in columns:
                table.add_column(label, width=column_width)
            table.add_rows([tuple(escape(cell) for cell in row) for row in rows])  # file keys
            table.display = True

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close; the result is the applied edit (None when nothing was loaded)."""
        if worker_running(self, "load"):
            self.notify("the weights are still loading: wait a moment", timeout=3)
            return
        self.dismiss(self.applied)


class SaveDialog(ModalScreen[Path | None]):
    """Save the model's weights (.pth/.safetensors) or its recipe (.toml) to a path."""

    DEFAULT_CSS = dialog_css("SaveDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="surgery.save_cancel"),
    ]

    def __init__(self, workbench: Any, what: str = "weights", path: str = "",
                 train: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.workbench = workbench
        self.what = what
        self.train = train or None
        """[train] settings the explorer shows (freeze_bn), written into a recipe."""
        default = f"{workbench.name.replace('/', '_').replace(':', '_')}"
        self.path = path or (f"{default}.toml" if what == "recipe" else f"{default}.safetensors")
        self._overwrite: Path | None = None
        """The existing file the user was warned about (saving to it again overwrites it)."""

    def compose(self) -> ComposeResult:
        """Path box, status line and buttons."""
        hint = (
            ".toml: the model and its edits, for `ptm-tui replay`"
            if self.what == "recipe"
            else ".safetensors or .pth (loadable with weights_only=True)"
        )
        with Vertical(classes="surgery-box"):
            yield Static(f"Save {self.what}", classes="surgery-title")
            yield Label(hint)
            yield PathInput(self.path, id="path")
            yield Static("", id="preview", classes="surgery-preview")
            with Horizontal(classes="surgery-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Focus the path box."""
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Save in a thread (the file appears atomically); an existing file is overwritten only
        when asked twice."""
        text = self.query_one("#path", Input).value.strip()
        if not text:
            return
        path = Path(text).expanduser().absolute()
        if path.exists() and path != self._overwrite:
            self._overwrite = path
            self.query_one("#save", Button).label = "Overwrite"
            show_in_preview(self, f"{path} already exists: press enter (or Overwrite) again to "
                            "replace it, or change the name", ok=False)
            return
        show_in_preview(self, f"saving {path}...", ok=None)
        self.save(path)

    @on(Input.Changed, "#path")
    def _path_changed(self) -> None:
        """A new name asks again before overwriting."""
        if self._overwrite is not None:
            self._overwrite = None
            self.query_one("#save", Button).label = "Save"
            show_in_preview(self, "", ok=None)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False, name="save")
    def save(self, path: Path) -> None:
        """Write the file; dismiss with its path, or show why it failed."""
        from engine.errors import PtmError

        try:
            if self.what == "recipe":
                from engine.edit.recipe import save

                save(self.workbench, path, train=self.train)
            else:
                from engine.edit.save import save_weights
                from engine.use.inference import meaning_of

                save_weights(self.workbench.model, path, meaning_of(self.workbench))
        except (PtmError, OSError) as error:
            self.app.call_from_thread(show_in_preview, self, error_text(error), False)
            return
        self.app.call_from_thread(self.dismiss, path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)
