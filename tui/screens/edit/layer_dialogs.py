"""Surgery dialogs on one layer: replace/insert/delete it, a new head, new input channels."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from tui.screens.edit.edit_dialog import EditDialog, dialog_css, one_line


class ModuleDialog(EditDialog):
    """Replace the layer at a path, or insert one before/after it, from a module expression."""

    DEFAULT_CSS = dialog_css("ModuleDialog")
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
            yield Static(Text(f"{self.VERBS[self.op]} {self.target}"), classes="surgery-title")
            yield Static(Text(f"now: {one_line(module)}"), classes="surgery-muted")
            yield Label(
                "new module (a torch.nn constructor, e.g. Dropout(p=0.3), Linear(4096, 17))"
            )
            yield Input(self.text, placeholder="(empty: type a module expression)", id="module")
            yield self.preview_widget()
            yield from self.buttons(self.VERBS[self.op])

    def on_mount(self) -> None:
        """Focus the expression box; preview a prefilled one."""
        self.query_one("#module", Input).focus()
        if self.text:
            self.schedule_preview()

    def make_edit(self) -> dict[str, Any]:
        """Return {op, target, module} after checking that the expression parses."""
        from engine.edit.modexpr import parse_module

        text = self.query_one("#module", Input).value.strip()
        parse_module(text)
        return {"op": self.op, "target": self.target, "module": text}

    def describe(self, edit: dict[str, Any]) -> str:
        """Return the parsed module and its parameter count."""
        from engine.edit.modexpr import describe, parse_module

        return describe(parse_module(edit["module"]))


class DeleteDialog(EditDialog):
    """Confirm deleting the layer at a path (its shape check shown first)."""

    DEFAULT_CSS = dialog_css("DeleteDialog")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("y,enter", "apply", "Delete", id="surgery.delete_yes"),
        Binding("n,escape", "cancel", "Keep", id="surgery.delete_no"),
    ]

    def __init__(self, workbench: Any, target: str) -> None:
        super().__init__(workbench)
        self.target = target

    def compose(self) -> ComposeResult:
        """The layer, what deleting it does, the shape check and the buttons."""
        from engine.edit.surgery import in_sequential

        module = self.workbench.module(self.target)
        how = (
            "removed from its Sequential (later indices shift down)"
            if in_sequential(self.workbench.model, self.target)
            else "replaced by Identity"
        )
        with Vertical(classes="surgery-box"):
            yield Static(Text(f"Delete {self.target}?"), classes="surgery-title")
            yield Static(Text(one_line(module)))
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

    DEFAULT_CSS = dialog_css("HeadDialog")

    def __init__(
        self, workbench: Any, num_classes: int | None = None, target: str | None = None, why: str = ""
    ) -> None:
        super().__init__(workbench)
        self.num_classes, self.target, self.why = num_classes, target, why

    def compose(self) -> ComposeResult:
        """Classes, init method, the head path, the preview and the buttons."""
        from engine.edit.surgery import HEAD_INITS
        from engine.inspect.heads import find_head

        head = self.target or find_head(self.workbench.model) or ""
        now = one_line(self.workbench.module(head)) if head else "no head found: name one"
        with Vertical(classes="surgery-box"):
            yield Static("New head", classes="surgery-title")
            yield Static(Text(f"now: {head} {now}"), classes="surgery-muted")
            if self.why:  # what the data the launch form counted needs
                yield Static(Text(self.why), id="head-why", classes="surgery-muted")
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

    DEFAULT_CSS = dialog_css("InputChannelsDialog")
    HELP = (
        "repeat: tile the RGB kernel and rescale by 3/N (timm)   sum: one channel   "
        "zero: keep RGB, extra channels start at 0"
    )

    def compose(self) -> ComposeResult:
        """Channels, strategy, the preview and the buttons."""
        from engine.edit.surgery import STRATEGIES
        from engine.inspect.heads import find_input_conv

        conv = find_input_conv(self.workbench.model)
        now = f"{conv}: {one_line(self.workbench.module(conv))}" if conv else "no input conv found"
        with Vertical(classes="surgery-box"):
            yield Static("New input channels", classes="surgery-title")
            yield Static(Text(f"now: {now}"), classes="surgery-muted")
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


def prefill(module: Any) -> str:
    """Return a leaf module's repr when it parses as a module expression (to edit it), else ""."""
    if getattr(module, "_modules", None):
        return ""
    from engine.edit.modexpr import parse_module
    from engine.errors import PtmError

    text = one_line(module)
    try:
        parse_module(text)
    except PtmError:
        return ""
    return text
