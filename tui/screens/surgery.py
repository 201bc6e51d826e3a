"""Surgery dialogs: replace/insert/delete a layer, new head, input channels, load/save weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static
from textual.worker import get_current_worker

from tui.screens.base import error_text

PREVIEW_DELAY_S = 0.15
"""Wait this long after the last keystroke before previewing (parsing + meta shape check)."""

_CSS = """
{name} {{ align: center middle; }}
{name} .surgery-box {{ width: 90; max-width: 100%; height: auto; max-height: 95%;
                       border: thick $primary; background: $surface; padding: 0 1; }}
{name} .surgery-title {{ text-style: bold; margin-bottom: 1; }}
{name} .surgery-muted {{ color: $text-muted; }}
{name} .surgery-preview {{ height: auto; min-height: 2; margin-top: 1; }}
{name} .surgery-preview.-bad {{ color: $error; }}
{name} .surgery-preview.-good {{ color: $success; }}
{name} .surgery-row {{ height: auto; }}
{name} .surgery-row > Vertical {{ width: 1fr; height: auto; }}
{name} .surgery-buttons {{ height: auto; margin-top: 1; }}
{name} .surgery-buttons Button {{ margin-right: 1; }}
{name} DataTable {{ height: auto; max-height: 16; }}
"""


def _css(name: str) -> str:
    return _CSS.format(name=name)


def one_line(module: Any) -> str:
    """Return a module's repr on one line (shortened)."""
    text = " ".join(line.strip() for line in repr(module).splitlines())
    return text if len(text) <= 120 else text[:117] + "..."


def show_in_preview(screen: Any, text: str, ok: bool | None) -> None:
    """Draw `text` in the screen's #preview line: red when ok is False, green when True."""
    preview = screen.query_one("#preview", Static)
    preview.update(text)
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
        from engine.errors import PtmError
        from engine.surgery_ops import dry_run

        try:
            result = dry_run(self.workbench.model, edit, self.workbench.input_size)
            text, ok = self.describe(edit) + "\n" + result.text(), True
        except PtmError as error:
            text, ok = error.message, False
        except Exception as error:  # a preview never crashes the dialog
            text, ok = error_text(error), False
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_preview, text, ok)

    def describe(self, edit: dict[str, Any]) -> str:
        """Return what the edit will put in the model, in words."""
        return ""

    def show_preview(self, text: str, ok: bool | None) -> None:
        """Draw the preview text, green when the edit fits and red when it does not."""
        show_in_preview(self, text, ok)
        self.preview_ok = bool(ok)

    def action_apply(self) -> None:
        """Return the edit when it is valid and its shapes fit (else say why and stay open)."""
        from engine.errors import PtmError
        from engine.surgery_ops import dry_run

        try:
            edit = self.make_edit()
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


class ModuleDialog(EditDialog):
    """Replace the layer at a path, or insert one before/after it, from a module expression."""

    DEFAULT_CSS = _css("ModuleDialog")
    VERBS: ClassVar[dict[str, str]] = {
        "replace": "Replace",
        "insert_before": "Insert before",
        "insert_after": "Insert after",
    }

    def __init__(self, workbench: Any, op: str, target: str, text: str = "") -> None:
        super().__init__(workbench)
        self.op = op
        self.target = target
        self.text = text

    def compose(self) -> ComposeResult:
        """Title, the current layer, the expression box, the preview and the buttons."""
        module = self.workbench.module(self.target)
        with Vertical(classes="surgery-box"):
            yield Static(f"{self.VERBS[self.op]} {self.target}", classes="surgery-title")
            yield Static(f"now: {one_line(module)}", classes="surgery-muted")
            yield Label(
                "new module (a torch.nn constructor, e.g. Dropout(p=0.3), Linear(4096, 17))"
            )
            yield Input(self.text, placeholder="GELU()", id="module")
            yield self.preview_widget()
            yield from self.buttons(self.VERBS[self.op])

    def on_mount(self) -> None:
        """Focus the expression box; preview a prefilled one."""
        self.query_one("#module", Input).focus()
        if self.text:
            self.schedule_preview()

    def make_edit(self) -> dict[str, Any]:
        """Return {op, target, module} after checking that the expression parses."""
        from engine.modexpr import parse_module

        text = self.query_one("#module", Input).value.strip()
        parse_module(text)
        return {"op": self.op, "target": self.target, "module": text}

    def describe(self, edit: dict[str, Any]) -> str:
        """Return the parsed module and its parameter count."""
        from engine.modexpr import describe, parse_module

        return describe(parse_module(edit["module"]))


class DeleteDialog(EditDialog):
    """Confirm deleting the layer at a path (its shape check shown first)."""

    DEFAULT_CSS = _css("DeleteDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("y,enter", "apply", "Delete", id="surgery.delete_yes"),
        Binding("n,escape", "cancel", "Keep", id="surgery.delete_no"),
    ]

    def __init__(self, workbench: Any, target: str) -> None:
        super().__init__(workbench)
        self.target = target

    def compose(self) -> ComposeResult:
        """The layer, what deleting it does, the shape check and the buttons."""
        from engine.surgery import in_sequential

        module = self.workbench.module(self.target)
        how = (
            "removed from its Sequential (later indices shift down)"
            if in_sequential(self.workbench.model, self.target)
            else "replaced by Identity"
        )
        with Vertical(classes="surgery-box"):
            yield Static(f"Delete {self.target}?", classes="surgery-title")
            yield Static(one_line(module))
            yield Static(f"It will be {how}.  y: delete   n: keep", classes="surgery-muted")
            yield self.preview_widget()
            yield from self.buttons("Delete")

    def on_mount(self) -> None:
        """Check the shapes right away."""
        self.query_one("#apply", Button).focus()
        self.schedule_preview()

    def make_edit(self) -> dict[str, Any]:
        """Return {op: delete, target}."""
        return {"op": "delete", "target": self.target}


def _whole(text: str, what: str) -> int:
    from engine.errors import BadInput

    if not text.strip():
        raise BadInput(f"type a {what}")  # an empty field is not yet an error to explain
    try:
        value = int(text.strip())
    except ValueError:
        raise BadInput(
            f"{what} must be a whole number", f"got {text.strip()!r}", f"type a {what}, e.g. 10"
        ) from None
    if value < 1:
        raise BadInput(f"{what} must be at least 1", f"got {value}", f"type a {what}, e.g. 10")
    return value


class HeadDialog(EditDialog):
    """A new classifier head: number of classes, how to initialise it, which layer."""

    DEFAULT_CSS = _css("HeadDialog")

    def __init__(self, workbench: Any, num_classes: int | None = None) -> None:
        super().__init__(workbench)
        self.num_classes = num_classes

    def compose(self) -> ComposeResult:
        """Classes, init method, the head path, the preview and the buttons."""
        from engine.heads import find_head
        from engine.surgery import HEAD_INITS

        head = find_head(self.workbench.model) or ""
        now = one_line(self.workbench.module(head)) if head else "no head found: name one"
        with Vertical(classes="surgery-box"):
            yield Static("New head", classes="surgery-title")
            yield Static(f"now: {head} {now}", classes="surgery-muted")
            with Horizontal(classes="surgery-row"):
                with Vertical():
                    yield Label("classes")
                    yield Input(str(self.num_classes or ""), placeholder="10", id="classes")
                with Vertical():
                    yield Label("init")
                    yield Select(
                        [(m, m) for m in HEAD_INITS], value="default", allow_blank=False, id="init"
                    )
                with Vertical():
                    yield Label("head layer")
                    yield Input(head, id="target")
            yield self.preview_widget()
            yield from self.buttons("Replace head")

    def on_mount(self) -> None:
        """Focus the classes box."""
        self.query_one("#classes", Input).focus()
        if self.num_classes:
            self.schedule_preview()

    def make_edit(self) -> dict[str, Any]:
        """Return {op: replace_head, num_classes, target, init}."""
        edit: dict[str, Any] = {
            "op": "replace_head",
            "num_classes": _whole(self.query_one("#classes", Input).value, "number of classes"),
        }
        target = self.query_one("#target", Input).value.strip()
        if target:
            edit["target"] = target
        init = self.query_one("#init", Select).value
        if init != "default":
            edit["init"] = init
        return edit


class InputChannelsDialog(EditDialog):
    """New input channels for the first conv: how many, and how to adapt its kernel."""

    DEFAULT_CSS = _css("InputChannelsDialog")
    HELP = (
        "repeat: tile the RGB kernel and rescale by 3/N (timm)   sum: one channel   "
        "zero: keep RGB, extra channels start at 0"
    )

    def compose(self) -> ComposeResult:
        """Channels, strategy, the preview and the buttons."""
        from engine.heads import find_input_conv
        from engine.surgery import STRATEGIES

        conv = find_input_conv(self.workbench.model)
        now = f"{conv}: {one_line(self.workbench.module(conv))}" if conv else "no input conv found"
        with Vertical(classes="surgery-box"):
            yield Static("New input channels", classes="surgery-title")
            yield Static(f"now: {now}", classes="surgery-muted")
            with Horizontal(classes="surgery-row"):
                with Vertical():
                    yield Label("channels")
                    yield Input("", placeholder="4", id="channels")
                with Vertical():
                    yield Label("strategy")
                    yield Select(
                        [(s, s) for s in STRATEGIES],
                        value="repeat",
                        allow_blank=False,
                        id="strategy",
                    )
            yield Static(self.HELP, classes="surgery-muted")
            yield self.preview_widget()
            yield from self.buttons("Adapt input")

    def on_mount(self) -> None:
        """Focus the channels box."""
        self.query_one("#channels", Input).focus()

    def make_edit(self) -> dict[str, Any]:
        """Return {op: adapt_input, channels, strategy}."""
        return {
            "op": "adapt_input",
            "channels": _whole(self.query_one("#channels", Input).value, "channel count"),
            "strategy": self.query_one("#strategy", Select).value,
        }


class LoadWeightsDialog(ModalScreen[dict[str, Any] | None]):
    """Load a weights file into the model (by name and shape) and show the report as a table."""

    DEFAULT_CSS = _css("LoadWeightsDialog")
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
            yield Input(self.source, placeholder="weights/old.pth", id="source")
            yield Checkbox("map renamed keys by order and shape", id="by-order")
            yield Static("", id="preview", classes="surgery-preview")
            yield DataTable(id="report", zebra_stripes=True, cursor_type="row")
            with Horizontal(classes="surgery-buttons"):
                yield Button("Load", variant="primary", id="load")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Prepare the table and focus the path box."""
        table = self.query_one("#report", DataTable)
        table.add_columns("status", "key", "checkpoint", "model")
        table.display = False
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
        warnings = "\n".join(getattr(report, "warnings", []) or [])
        show_in_preview(self, text + (f"\n{warnings}" if warnings else ""), ok=ok)
        table = self.query_one("#report", DataTable)
        table.clear()
        if report is not None:
            table.add_rows(report.rows())
            table.display = True

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close; the result is the applied edit (None when nothing was loaded)."""
        self.dismiss(self.applied)


class SaveDialog(ModalScreen[Path | None]):
    """Save the model's weights (.pth/.safetensors) or its recipe (.toml) to a path."""

    DEFAULT_CSS = _css("SaveDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="surgery.save_cancel"),
    ]

    def __init__(self, workbench: Any, what: str = "weights", path: str = "") -> None:
        super().__init__()
        self.workbench = workbench
        self.what = what
        default = f"{workbench.name.replace('/', '_').replace(':', '_')}"
        self.path = path or (f"{default}.toml" if what == "recipe" else f"{default}.safetensors")

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
            yield Input(self.path, id="path")
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
        """Save in a thread (the file appears atomically)."""
        path = self.query_one("#path", Input).value.strip()
        if not path:
            return
        self.query_one("#preview", Static).update(f"saving {path}...")
        self.save(Path(path).expanduser())

    @work(thread=True, exclusive=True, group="save", exit_on_error=False, name="save")
    def save(self, path: Path) -> None:
        """Write the file; dismiss with its path, or show why it failed."""
        from engine.errors import PtmError

        try:
            if self.what == "recipe":
                from engine.recipe import save

                save(self.workbench, path)
            else:
                from engine.save import save_weights

                save_weights(self.workbench.model, path)
        except (PtmError, OSError) as error:
            self.app.call_from_thread(show_in_preview, self, error_text(error), False)
            return
        self.app.call_from_thread(self.dismiss, path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)


def _prefill(module: Any) -> str:
    """Return a leaf module's repr when it parses as a module expression (to edit it), else ""."""
    if getattr(module, "_modules", None):
        return ""
    from engine.errors import PtmError
    from engine.modexpr import parse_module

    text = one_line(module)
    try:
        parse_module(text)
    except PtmError:
        return ""
    return text


class SurgeryActions:
    """Explorer actions for surgery (mixed into ExplorerScreen, which binds the keys).

    Relies on the explorer's `workbench`, `current_path`, `apply_edit(edit)` and
    `refresh_after_edit(edit)`.
    """

    def _bench(self) -> Any:
        workbench = getattr(self, "workbench", None)
        if workbench is None:
            self.notify("the model is still loading", severity="warning")  # type: ignore[attr-defined]
        return workbench

    def _layer(self, verb: str) -> str | None:
        path = self.current_path  # type: ignore[attr-defined]
        if not path:
            self.notify(
                f"move to a layer first: {verb} works on the layer under the cursor",  # type: ignore[attr-defined]
                timeout=3,
            )
            return None
        return path

    def _then_apply(self, edit: dict[str, Any] | None) -> None:
        if edit:
            self.apply_edit(edit)  # type: ignore[attr-defined]
        self._history_refresh()

    def _history_refresh(self) -> None:
        from tui.widgets.edit_history import EditHistory

        for panel in self.query(EditHistory):  # type: ignore[attr-defined]
            panel.workbench = self.workbench  # type: ignore[attr-defined]
            panel.refresh_history(force=True)

    def _module_dialog(self, op: str, verb: str) -> None:
        workbench, path = self._bench(), self._layer(verb)
        if workbench is None or path is None:
            return
        text = _prefill(workbench.module(path)) if op == "replace" else ""
        self.app.push_screen(
            ModuleDialog(workbench, op, path, text),  # type: ignore[attr-defined]
            self._then_apply,
        )

    def action_surgery_replace(self) -> None:
        """Replace the layer under the cursor with a module expression."""
        self._module_dialog("replace", "replace")

    def action_surgery_insert_before(self) -> None:
        """Insert a module before the layer under the cursor."""
        self._module_dialog("insert_before", "insert")

    def action_surgery_insert_after(self) -> None:
        """Insert a module after the layer under the cursor."""
        self._module_dialog("insert_after", "insert")

    def action_surgery_delete(self) -> None:
        """Delete the layer under the cursor (after a confirmation)."""
        workbench, path = self._bench(), self._layer("delete")
        if workbench is not None and path is not None:
            self.app.push_screen(DeleteDialog(workbench, path), self._then_apply)  # type: ignore[attr-defined]

    def action_surgery_head(self) -> None:
        """Give the model a new classifier head."""
        workbench = self._bench()
        if workbench is not None:
            self.app.push_screen(HeadDialog(workbench), self._then_apply)  # type: ignore[attr-defined]

    def action_surgery_input(self) -> None:
        """Change the number of input channels of the first conv."""
        workbench = self._bench()
        if workbench is not None:
            self.app.push_screen(InputChannelsDialog(workbench), self._then_apply)  # type: ignore[attr-defined]

    def action_surgery_load(self) -> None:
        """Load a weights file into the model by name and shape, with a report."""
        workbench = self._bench()
        if workbench is None:
            return

        def done(edit: dict[str, Any] | None) -> None:
            if edit:
                self.refresh_after_edit(edit)  # type: ignore[attr-defined]
            self._history_refresh()

        self.app.push_screen(LoadWeightsDialog(workbench), done)  # type: ignore[attr-defined]

    def _save(self, what: str) -> None:
        workbench = self._bench()
        if workbench is None:
            return

        def done(path: Path | None) -> None:
            if path is not None:
                self.notify(f"saved {what} to {path}", timeout=4)  # type: ignore[attr-defined]

        self.app.push_screen(SaveDialog(workbench, what), done)  # type: ignore[attr-defined]

    def action_surgery_save_weights(self) -> None:
        """Save the model's weights (.safetensors or .pth)."""
        self._save("weights")

    def action_surgery_save_recipe(self) -> None:
        """Save the recipe (model and edits) as TOML."""
        self._save("recipe")

    def action_toggle_edit_history(self) -> None:
        """Show or hide the edit-history panel beside the layer panel."""
        from tui.widgets.edit_history import EditHistory

        panels = list(self.query(EditHistory))  # type: ignore[attr-defined]
        if panels:
            panels[0].display = not panels[0].display
            panels[0].refresh_history(force=True)
            return
        parents = list(self.query("#explorer-body"))  # type: ignore[attr-defined]
        parent = parents[0] if parents else self
        parent.mount(EditHistory(getattr(self, "workbench", None), id="edit-history"))
