"""The "initialise" dialog: pick an init method for a layer, see its statistics before and after."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui.navigation import NavigationKeys
from tui.screens.base import error_text, worker_running
from tui.screens.edit.init_lab import METHOD_NAMES

PRESET = "preset: common"
GAIN_FOR = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu", "gelu")


def stats_line(stats: Any) -> str:
    """Return 'N values  mean  std  min  max' for an engine.edit.init.TensorStats."""
    return (f"{stats.count:,} values  mean {stats.mean:.4g}  std {stats.std:.4g}  "
            f"min {stats.min:.4g}  max {stats.max:.4g}")


class InitDialog(ModalScreen[int], NavigationKeys):
    """Initialise the node `path` of a workbench; dismisses with the number of edits applied."""

    DEFAULT_CSS = """
    InitDialog { align: center middle; }
    InitDialog #init-box { width: 84; max-width: 100%; height: auto; max-height: 100%;
                           border: thick $primary; background: $surface; padding: 0 1;
                           overflow-y: auto; }
    InitDialog #init-title { text-style: bold; margin-bottom: 1; }
    InitDialog .init-row { height: auto; }
    InitDialog .init-row > Vertical { width: 1fr; height: auto; }
    InitDialog #init-params { height: auto; max-height: 12; }
    InitDialog .param-row { height: auto; }
    InitDialog .param-row Label { width: 14; padding-top: 1; }
    InitDialog .param-row Input, InitDialog .param-row Select { width: 1fr; }
    InitDialog #init-help { color: $text-muted; }
    InitDialog #init-stats { margin-top: 1; height: auto; }
    InitDialog #init-buttons { height: auto; dock: bottom; }
    InitDialog #init-buttons Button { margin-right: 1; }
    """

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+s", "apply", "Apply", id="init_dialog.apply"),
        Binding("ctrl+z", "undo", "Undo", id="init_dialog.undo"),
        Binding("escape", "close", "Close", id="init_dialog.close"),
    ]

    def __init__(self, workbench: Any, path: str = "", method: str | None = None) -> None:
        super().__init__()
        self.workbench = workbench
        self.path = path
        module = workbench.module(path)
        # kaiming_normal where a weight has fans (conv, linear); else (a BatchNorm, a LayerNorm)
        # the preset, which sets norm weights to 1 and biases to 0, as fan-based methods cannot
        self.method = method or ("kaiming_normal" if any(p.dim() >= 2 for p in module.parameters())
                                 else PRESET)
        self.applied = 0
        """Edits this dialog applied and has not undone."""
        self.type_name = type(module).__name__
        self.layer_types = sorted({type(m).__name__ for m in module.modules()
                                   if any(True for _ in m.parameters(recurse=False))})

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Method, which tensors, the method's parameters, statistics and the buttons."""
        with Vertical(id="init-box"):
            yield Static(f"Initialise {self.path or 'the whole model'} ({self.type_name})",
                         id="init-title")
            with Horizontal(classes="init-row"):
                with Vertical():
                    yield Label("method")
                    yield Select([(m, m) for m in (*METHOD_NAMES, PRESET)], value=self.method,
                                 allow_blank=False, id="init-method")
                with Vertical():
                    yield Label("tensors")
                    yield Select([("weights", "weight"), ("biases", "bias"), ("both", "both")],
                                 value="weight", allow_blank=False, id="init-what")
                with Vertical():
                    yield Label("layer type")
                    yield Select([("all layers", ""), *((t, t) for t in self.layer_types)],
                                 value=self._default_type(), allow_blank=False, id="init-type")
            yield Static("", id="init-help")
            yield VerticalScroll(id="init-params")
            yield Static("", id="init-stats")
            with Horizontal(id="init-buttons"):
                yield Button("Apply", variant="primary", id="init-apply")
                yield Button("Undo", id="init-undo", disabled=True)
                yield Button("Close", id="init-close")

    def _default_type(self) -> str:
        """Conv2d/Linear when the node holds them (fan-based methods fit their weights)."""
        for name in ("Conv2d", "Linear", "Conv1d", "Conv3d"):
            if name in self.layer_types and self.type_name not in self.layer_types:
                return name
        return ""

    async def on_mount(self) -> None:
        """Fill the parameters of the default method and the statistics before."""
        await self._show_params()
        self._show_stats()
        self.query_one("#init-method", Select).focus()

    # --- parameters ----------------------------------------------------------------------

    @on(Select.Changed, "#init-method")
    async def _on_method(self, event: Select.Changed) -> None:
        if str(event.value) != self.method or not self.query("#init-params > *"):
            self.method = str(event.value)
            await self._show_params()
            self._show_stats()

    @on(Select.Changed, "#init-what")
    @on(Select.Changed, "#init-type")
    def _on_selection(self, _: Select.Changed) -> None:
        self._show_stats()

    async def _show_params(self) -> None:
        """Rebuild one input per parameter of the method, filled with its default."""
        box = self.query_one("#init-params", VerticalScroll)
        await box.remove_children()
        help_line = self.query_one("#init-help", Static)
        is_preset = self.method == PRESET
        for selector in ("#init-what", "#init-type"):
            self.query_one(selector, Select).disabled = is_preset
        if is_preset:
            from engine.edit.init import PRESETS

            help_line.update(PRESETS["common"])
            return
        from engine.edit.init_methods import get_method

        spec = get_method(self.method)
        help_line.update(f"{spec.name}: {spec.summary}")
        rows = []
        for param in spec.params:
            if param.choices:
                field: Any = Select([(c, c) for c in param.choices], value=param.default,
                                    allow_blank=False, id=f"param-{param.name}")
            else:
                field = Input(str(param.default), id=f"param-{param.name}",
                              tooltip=param.help)
            rows.append(Horizontal(Label(param.name), field, classes="param-row"))
        if spec.has_gain:
            rows.append(Horizontal(Label("gain for"),
                                   Select([(g, g) for g in GAIN_FOR], value="linear",
                                          allow_blank=False, id="gain-for"),
                                   classes="param-row"))
        if rows:
            await box.mount_all(rows)

    @on(Select.Changed, "#gain-for")
    def _on_gain_for(self, event: Select.Changed) -> None:
        """Fill gain with calculate_gain of the chosen nonlinearity."""
        from engine.edit.init_methods import default_gain

        slope = 0.01 if event.value == "leaky_relu" else None
        gain = default_gain(str(event.value), slope)
        self.query_one("#param-gain", Input).value = f"{gain:.6g}"

    def read_edit(self) -> dict[str, Any]:
        """Return the edit the form describes (values parsed; checked when applied)."""
        if self.method == PRESET:
            return {"op": "init_preset", "target": self.path, "preset": "common"}
        from engine.edit.init_methods import get_method, parse_value

        spec = get_method(self.method)
        params: dict[str, Any] = {}
        for param in spec.params:
            field = self.query_one(f"#param-{param.name}")
            value = field.value if isinstance(field, Select) else parse_value(field.value)
            if value != param.default:
                params[param.name] = value
        edit: dict[str, Any] = {"op": "init", "target": self.path, "method": spec.name,
                                "params": params,
                                "what": str(self.query_one("#init-what", Select).value)}
        layer_type = str(self.query_one("#init-type", Select).value)
        if layer_type:
            edit["layer_type"] = layer_type
        return edit

    # --- statistics ----------------------------------------------------------------------

    def _selection(self) -> tuple[str, str | None, str]:
        if self.method == PRESET:
            return self.path, None, "both"
        layer_type = str(self.query_one("#init-type", Select).value) or None
        return self.path, layer_type, str(self.query_one("#init-what", Select).value)

    def _stats_text(self, selection: tuple[str, str | None, str]) -> str:
        """Return the statistics line of the selected tensors (runs in a worker thread)."""
        from engine.edit.init import selection_stats
        from engine.errors import PtmError

        try:
            return stats_line(selection_stats(self.workbench.model, *selection))
        except PtmError as error:
            return error.what

    def _show_stats(self) -> None:
        """Show the statistics of the selection as it is now (computed off the UI thread)."""
        self.query_one("#init-stats", Static).update("before: computing...\nafter:  -")
        self.compute_stats(self._selection())

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False, name="statistics")
    def compute_stats(self, selection: tuple[str, str | None, str]) -> None:
        """Compute the statistics before (a whole big model takes a moment)."""
        text = self._stats_text(selection)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._draw_stats, text)

    def _draw_stats(self, before: str, after: str | None = None, summary: str = "") -> None:
        text = f"before: {before}\nafter:  -" if after is None else \
            f"before: {before}\nafter:  {after}\n{summary}"
        self.query_one("#init-stats", Static).update(text)

    # --- actions -------------------------------------------------------------------------

    @on(Button.Pressed, "#init-apply")
    def action_apply(self) -> None:
        """Apply the edit through the workbench (undoable with u in the explorer)."""
        from engine.errors import PtmError

        if self._applying():
            return
        try:
            edit = self.read_edit()
        except PtmError as error:
            self.notify(error.message, title="init refused", severity="error", timeout=8)
            return
        self.query_one("#init-apply", Button).disabled = True
        self.workers.cancel_group(self, "stats")
        self.apply_edit(edit, self._selection())

    def _applying(self) -> bool:
        """Return True (and say so) while this dialog's init is being applied."""
        if worker_running(self, "init"):
            self.notify("the init is still being applied: wait a moment", timeout=3)
            return True
        return False

    @work(thread=True, exclusive=True, group="init", exit_on_error=False, name="initialise")
    def apply_edit(self, edit: dict[str, Any], selection: tuple[str, str | None, str]
                   ) -> tuple[tuple[str, str | None, str], str, str, str]:
        """Apply the edit in a thread; return (selection, stats before, stats after, summary)."""
        before = self._stats_text(selection)
        summary = self.workbench.apply(edit)
        return selection, before, self._stats_text(selection), summary

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the statistics after, or the refusal (the model is then unchanged)."""
        if event.worker.group == "stats" and event.state == WorkerState.ERROR:
            self._draw_stats(error_text(event.worker.error))
        if event.worker.group != "init":
            return
        if event.state == WorkerState.SUCCESS:
            selection, before, after, summary = event.worker.result
            self.applied += 1
            self.query_one("#init-undo", Button).disabled = False
            self._draw_stats(before, after, summary)
            if selection != self._selection():  # changed while applying: show the new one
                self._show_stats()
            self.notify(summary, timeout=4)
        elif event.state == WorkerState.ERROR:
            self.notify(error_text(event.worker.error), title="init refused", severity="error",
                        timeout=10)
        if event.worker.is_finished:
            self.query_one("#init-apply", Button).disabled = False

    @on(Button.Pressed, "#init-undo")
    def action_undo(self) -> None:
        """Undo the last init this dialog applied."""

        if self._applying():
            return
        if not self.applied:
            self.notify("nothing applied here to undo", timeout=2)
            return
        try:
            self.workbench.undo()
        except Exception as error:  # e.g. its undo copy was let go (PTM_UNDO_MB)
            self.notify(error_text(error), title="undo refused", severity="error", timeout=10)
            return
        self.applied -= 1
        self.query_one("#init-undo", Button).disabled = not self.applied
        self._show_stats()
        self.notify("undid the init", timeout=2)

    @on(Button.Pressed, "#init-close")
    def action_close(self) -> None:
        """Close, returning how many edits stay applied (once the init under way is done)."""
        if not self._applying():
            self.dismiss(self.applied)
