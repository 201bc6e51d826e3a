"""The explorer: the layer tree on the left, the layer under the cursor on the right."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Tree
from textual.worker import get_current_worker

from engine.errors import PtmError
from tui.format import human_count
from tui.layer_details import one_line_repr
from tui.messages import (
    ModelOpened,
    ModelPreview,
    PanelReady,
    Progress,
    TorchImported,
)
from tui.screens.base import PtmScreen, error_text
from tui.screens.edit.autosave_actions import AutosaveActions
from tui.screens.edit.freeze_actions import FreezeActions
from tui.screens.edit.surgery_actions import SurgeryActions
from tui.screens.explore.compare_actions import CompareActions
from tui.screens.explore.no_weights_actions import NoWeightsActions
from tui.screens.explore.search_actions import SearchActions
from tui.screens.explore.summary_actions import SummaryActions
from tui.screens.explore.tool_actions import ToolActions
from tui.widgets.header import ModelHeader
from tui.widgets.keybar import KeyBar
from tui.widgets.layer_panel import LayerPanel
from tui.widgets.layer_tree import LayerTree
from tui.widgets.no_weights import NoWeightsPanel
from tui.widgets.progress import DownloadBar

PANEL_DELAY_S = 0.15
"""Wait this long after the cursor stops before computing the panel (keeps j/k instant)."""
FIRST_FRAME_S = 0.1
"""Start importing torch this long after the screen is up (its first frame goes out first)."""


class ExplorerScreen(NoWeightsActions, SurgeryActions, FreezeActions, SearchActions,
                     SummaryActions, ToolActions, CompareActions, AutosaveActions, PtmScreen):
    """Walk a model's layers, read their statistics, freeze and unfreeze them."""

    # Other screens add their keys here, one Binding per line, each with an id. Most of the actions
    # live in the mixins: edit/freeze_actions.py, edit/surgery_actions.py, edit/autosave_actions.py,
    # explore/search_actions.py, summary_actions.py, compare_actions.py and tool_actions.py.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_freeze", "Freeze", id="explorer.freeze"),
        Binding("F", "freeze_before", "Freeze before", id="explorer.freeze_before"),
        Binding("U", "unfreeze_all", "Unfreeze all", id="explorer.unfreeze_all"),
        Binding("u", "undo", "Undo", id="explorer.undo"),
        Binding("ctrl+r", "redo", "Redo", show=False, id="explorer.redo"),
        Binding("slash", "search", "Search", id="explorer.search"),
        Binding("n", "search_next", "Next match", show=False, id="explorer.search_next"),
        Binding("N", "search_previous", "Previous match", show=False,
                id="explorer.search_previous"),
        Binding("s", "summary", "Summary", id="explorer.summary"),
        Binding("i", "initialise", "Initialise", id="explorer.init"),
        Binding("A", "activation_std", "Activation stds", id="explorer.activation_std"),
        Binding("L", "init_lab", "Init lab", id="explorer.init_lab"),
        Binding("b", "toggle_bn_eval", "Frozen BN eval", show=False, id="explorer.bn_eval"),
        Binding("escape", "back", "Back", show=False, id="explorer.back"),
        Binding("r", "surgery_replace", "Replace", show=False, id="explorer.replace"),
        Binding("O", "surgery_insert_before", "Insert before", show=False,
                id="explorer.insert_before"),
        Binding("o", "surgery_insert_after", "Insert after", show=False,
                id="explorer.insert_after"),
        Binding("x", "surgery_delete", "Delete", show=False, id="explorer.delete"),
        Binding("H", "surgery_head", "New head", show=False, id="explorer.new_head"),
        Binding("C", "surgery_input", "Input channels", show=False,
                id="explorer.input_channels"),
        Binding("W", "surgery_load", "Load weights", show=False, id="explorer.load_weights"),
        Binding("d", "retry_weights", "Retry weights", show=False, id="explorer.retry_weights"),
        Binding("ctrl+s", "surgery_save_weights", "Save weights", show=False,
                id="explorer.save_weights"),
        Binding("R", "surgery_save_recipe", "Save recipe", show=False,
                id="explorer.save_recipe"),
        Binding("e", "toggle_edit_history", "Edits", show=False, id="explorer.edit_history"),
        Binding("p", "predict", "Predict", id="explorer.predict"),
        Binding("m", "actmap", "Act. maps", id="explorer.actmap"),
        Binding("P", "freeze_presets", "Freeze presets", show=False,
                id="explorer.freeze_presets"),
        Binding("t", "finetune", "Finetune", id="explorer.finetune"),
        Binding("J", "jobs", "Jobs", id="explorer.jobs"),
        Binding("E", "export_graph", "Export graph", show=False, id="explorer.export_graph"),
        Binding("X", "export_model", "Export model", show=False, id="explorer.export_model"),
        Binding("D", "compare_weights", "Compare weights", show=False, id="explorer.compare"),
        Binding("y", "copy_path", "Copy layer path", show=False, id="explorer.copy_path"),
    ]

    def __init__(self, model: str, weights: str = "default", device: str = "cpu",
                 workbench: Any | None = None, offline: bool = False) -> None:
        super().__init__()
        self.model_name = model or getattr(workbench, "name", "")
        self.weights = weights
        self.offline = offline
        """Weights not on this machine show the "no weights" panel instead of downloading (d does)."""
        self.device = device
        self.workbench: Any = workbench
        """The engine.edit.workbench.Workbench of the open model (None while it loads)."""
        self.frozen_bn_eval = True
        """Keep frozen BatchNorm layers in eval mode (their running stats stay put)."""
        self.summary: dict[str, Any] | None = None
        self.generation = 0
        """Counts refreshes after edits: results computed before the latest one are dropped."""
        self.applying: str | None = None
        """The op an edit worker is applying (other edits wait for it), else None."""
        self.timings: dict[str, float] = {"start": time.perf_counter()}
        self._matches: list[str] = []
        self._match_index = -1
        self._panel_timer: Any = None
        self._cancel = threading.Event()
        """Set by escape to cancel the download of the model's weights."""

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Header, tree | panel, search box, download bar, footer."""
        glyphs = self.app.glyphs
        yield ModelHeader(glyphs, id="model-header")
        with Horizontal(id="explorer-body"):
            yield LayerTree(glyphs, id="layer-tree")
            yield LayerPanel(glyphs, ascii_only=self.app.ascii_only, id="layer-panel")
            yield NoWeightsPanel(id="no-weights")
        search = Input(placeholder="search layers by name or type (enter: find, escape: close)",
                       id="search")
        search.cursor_blink = False
        yield search
        yield DownloadBar(glyphs, id="download-bar")
        yield KeyBar(first=("explorer.freeze", "explorer.undo", "explorer.search",
                            "explorer.summary", "explorer.init"))

    def on_mount(self) -> None:
        """Start opening the model (or show the given workbench)."""
        self.query_one("#search", Input).display = False
        self.query_one(LayerTree).focus()
        if self.workbench is not None:
            self.timings["torch_imported"] = time.perf_counter()
            self.post_message(ModelOpened(self.workbench))
        else:
            self.query_one(ModelHeader).show_status(
                f"{self.model_name}: importing torch (the tree appears in a few seconds)...")
            # Let the first frame reach the terminal before the import thread takes the GIL.
            self.set_timer(FIRST_FRAME_S, self.open_model)

    # --- opening -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="open", exit_on_error=False, name="open model")
    def open_model(self) -> None:
        """Import torch and open the model in a thread; post the results."""
        import torch  # noqa: F401  (the slow part: about 4 s with torchvision)
        import torchvision  # noqa: F401

        self.post_message(TorchImported())
        from engine.edit.workbench import Workbench

        self._random_init_without_pretrained()

        try:  # the tree first, on meta (no memory, no file), as the chosen weights build it
            from engine.models.architecture import architecture

            self.post_message(ModelPreview(architecture(self.model_name, str(self.weights)).model))
        except Exception:  # Workbench.open below reports what is wrong
            pass

        def progress(done: int, total: int | None) -> None:
            self.post_message(Progress(self.model_name, done, total))

        from engine.jobs.trained import is_trained, trained_workbench

        if is_trained(self.model_name):  # a job, checkpoint or saved model: as it was trained
            workbench = trained_workbench(self.model_name, device=self.device,
                                          trust_code=getattr(self.app, "trust_code", False))
        else:
            workbench = Workbench.open(self.model_name, weights=self.weights, device=self.device,
                                       progress=progress, cancel=self._cancel,  # escape cancels
                                       offline=self.offline)
        self.post_message(ModelOpened(workbench))
        import textual_plotext  # noqa: F401  (warm the import the first histogram needs)

    def _random_init_without_pretrained(self) -> None:
        """A model with no pretrained weights (your own module) asked for with the default
        weights opens with a random init, and says that this is fine (in the worker)."""
        from engine.errors import PtmError
        from engine.jobs.trained import is_trained
        from engine.models.catalog import model_info

        if str(self.weights).lower() not in ("default", "pretrained") or is_trained(self.model_name):
            return
        try:
            info = model_info(self.model_name)
        except PtmError:  # Workbench.open says what is wrong with the name
            return
        if info.default_weights is None:
            self.weights = "none"
            self.app.call_from_thread(
                self.notify, f"{self.model_name} has no pretrained weights: it opens with a "
                "random init, which is fine (W loads a weights file; t trains it)", timeout=10)

    def on_torch_imported(self, _: TorchImported) -> None:
        """Say what happens next."""
        self.timings["torch_imported"] = time.perf_counter()
        weights = "random weights" if self.weights == "none" else f"weights: {self.weights}"
        self.query_one(ModelHeader).show_status(f"{self.model_name}: building ({weights})...")

    def on_progress(self, message: Progress) -> None:
        """Show download progress while the model's weights arrive."""
        bar = self.query_one(DownloadBar)
        if not bar.active:
            bar.start(f"downloading {message.label}")
        bar.update_progress(message.done, message.total)

    def on_model_preview(self, message: ModelPreview) -> None:
        """Show the tree of the model built on the meta device while its weights load."""
        if self.workbench is not None:
            return
        tree = self.query_one(LayerTree)
        tree.show_model(message.model, self.model_name)
        self.timings["tree_ready"] = time.perf_counter()
        total = tree.counts[""][0]
        doing = "random init" if self.weights == "none" else f"loading weights {self.weights}"
        self.query_one(ModelHeader).show_status(
            f"{self.model_name}: {human_count(total)} params, {doing}...")

    def on_model_opened(self, message: ModelOpened) -> None:
        """Show the opened model's tree (keeping what was open) and fill the header."""
        self.workbench = message.workbench
        self.replay_planned()  # edits made while the weights were missing (NoWeightsActions)
        self.query_one(DownloadBar).stop()
        tree = self.query_one(LayerTree)
        if tree.model is None:
            tree.show_model(self.workbench.model, self.model_name)
        else:  # replace the preview, keeping the open nodes and the cursor
            tree.model = self.workbench.model
            tree.refresh_all()
        self.timings.setdefault("tree_ready", time.perf_counter())
        self._apply_bn_setting()
        self._update_header()
        self._show_panel(tree.cursor_path or "")
        self.offer_restore()  # an autosave of this model from a session that ended unsaved

    def on_unmount(self) -> None:
        """Stop a download when the screen goes away."""
        self._cancel.set()

    def worker_failed(self, worker: Any) -> bool | None:
        """A model that failed to open leaves a message in the header (weights that cannot be had:
        the no-weights panel says why, no toast); a failed summary says why in the panel."""
        if worker.group == "summary":
            self.summary_failed(worker.error)
        if worker.group == "open" and self.show_no_weights(worker.error):
            self.query_one(DownloadBar).stop()
            return True
        if worker.group == "open":
            self.query_one(DownloadBar).stop()
            tree = self.query_one(LayerTree)
            tree.clear()
            tree.model = None
            tree.root.set_label("(no model: see the message; q quits)")
            self.query_one(ModelHeader).show_status(
                f"{self.model_name}: could not open ({error_text(worker.error).splitlines()[0]})")

    # --- the extension points -------------------------------------------------------------

    @property
    def current_path(self) -> str | None:
        """The module path under the cursor ("" is the whole model; None while loading)."""
        return self.query_one(LayerTree).cursor_path

    def edit_busy(self) -> bool:
        """Return True (and say so) while the model is loading or an edit is being applied."""
        if self.workbench is None:
            self.notify("the model is still loading", severity="warning")
            return True
        if self.applying is not None or self.workbench.busy:
            self.notify(f"still applying {self.applying or 'an edit'}: try again in a moment",
                        severity="warning", timeout=3)
            return True
        return False

    def apply_edit(self, edit: dict[str, Any], quiet: bool = False) -> bool:
        """Apply one Workbench edit and refresh what it changed; return False (and say why) on
        error. `quiet` skips the summary notification (the tree and header already show it)."""
        if self.edit_busy():
            return False
        try:
            summary, ok = self.workbench.apply(edit), True
        except PtmError as error:
            summary, ok = error.message, False
        self._show_result(edit, summary, ok, quiet)
        return ok

    def apply_steps(self, edits: list[dict[str, Any]], summary: str = "") -> bool:
        """Apply several edits as one step (one history entry, one `u`); return False (and say
        why) when any is refused, leaving the model as it was."""
        if self.edit_busy():
            return False
        steps = len(self.workbench.history)
        try:
            done, ok = self.workbench.apply_all(edits, summary), True
        except PtmError as error:
            done, ok = error.message, False
        history = self.workbench.history
        step = history[-1][0] if len(history) > steps else None  # None: nothing changed
        self._show_result(step or {"op": edits[0].get("op")}, done, ok)
        return ok

    def apply_in_background(self, edit: dict[str, Any]) -> None:
        """Apply an edit that takes a moment (surgery: a copy, a meta shape check) in a worker,
        so the UI keeps moving; the tree, header and panel follow when it is done."""
        if self.edit_busy():
            return
        self.applying = str(edit.get("op", "the edit"))
        self.notify(f"applying {self.applying}...", timeout=2)
        self._apply_worker(edit)

    @work(thread=True, group="edit", exit_on_error=False, name="apply edit")
    def _apply_worker(self, edit: dict[str, Any]) -> None:
        try:
            summary, ok = self.workbench.apply(edit), True
        except Exception as error:  # any failure: never leave `applying` set (edits stay locked)
            summary, ok = error_text(error), False
        self.app.call_from_thread(self._applied, edit, summary, ok)

    def _applied(self, edit: dict[str, Any], summary: str, ok: bool) -> None:
        self.applying = None
        self._show_result(edit, summary, ok)
        self._history_refresh()

    def _show_result(self, edit: dict[str, Any], summary: str, ok: bool,
                     quiet: bool = False) -> None:
        """Refresh after an applied edit and say what it did, or say why it was refused."""
        if ok:
            self.refresh_after_edit(edit)
            if not quiet:
                self.notify(summary, timeout=3)
            return
        self.notify(summary, title=f"{edit.get('op')} refused", severity="error")
        if self.query_one(LayerTree).model is not self.workbench.model:
            self.refresh_after_edit(None)  # a refused whole-model edit restored a copy of the root

    def refresh_after_edit(self, edit: dict[str, Any] | None = None, undone: bool = False,
                           follow: bool = False) -> None:
        """Update the tree (labels, changed subtrees), header and panel after a Workbench edit;
        the cursor goes to the layer a structural edit changed (any edit when `follow`: undo,
        redo), and what was open or closed stays so."""
        if self.workbench is None:
            return
        self.generation += 1
        tree = self.query_one(LayerTree)
        if tree.model is not self.workbench.model:
            tree.model = self.workbench.model
        parts = [] if edit is None else edit.get("edits") or [edit]  # a compound step: its parts
        ops = {part.get("op") for part in parts}
        if parts and ops <= {"freeze", "unfreeze"}:
            for part in parts:
                tree.refresh_flags(part.get("target", ""))
                self._apply_bn_setting(part.get("target", ""))
        else:
            tree.refresh_all()
        if edit is not None and (follow or not ops <= {"freeze", "unfreeze", "init"}):
            self._cursor_to_edited(edit, undone)
        self._update_header()
        if not parts or not ops <= {"freeze", "unfreeze", "init"}:
            self.summary = None  # shapes may have changed: `s` computes them again
            self.summary_problem = None
        self.autosave_now()
        self._show_cursor_panel()
        self.call_after_refresh(self._show_cursor_panel)  # the cursor may move once the tree
        # redraws (a deleted layer's node is gone)

    def _cursor_to_edited(self, edit: dict[str, Any], undone: bool) -> None:
        """Put the cursor on the layer `edit` changed (or what replaced it)."""
        from engine.edit.edited import edited_path

        path = edited_path(self.workbench.model, edit, undone=undone)
        if path is not None:
            self.query_one(LayerTree).select_path(path)

    def _show_cursor_panel(self) -> None:
        """Show the layer under the cursor, or its nearest ancestor still in the model."""
        path = self.current_path
        if path is None:
            return
        modules = self.query_one(LayerTree)._modules
        while path and path not in modules:
            path = path.rpartition(".")[0]
        self._show_panel(path)

    def _update_header(self) -> None:
        total, trainable = self.query_one(LayerTree).counts.get("", (0, 0))
        wb = self.workbench
        self.query_one(ModelHeader).show(self.model_name, wb.source_now, total, trainable,
                                         self.device, len(wb.history))

    # --- the panel -----------------------------------------------------------------------

    @on(Tree.NodeHighlighted, "#layer-tree")
    def _on_highlight(self, event: Tree.NodeHighlighted) -> None:
        self._show_panel(event.node.data or "")

    def _show_panel(self, path: str) -> None:
        """Show the cheap part of the panel now and compute the rest after a short pause."""
        tree = self.query_one(LayerTree)
        module = tree._modules.get(path)
        if module is None:
            return
        self.query_one(LayerPanel).show_header(path, type(module).__name__,
                                               one_line_repr(module))
        self._show_summary_line(path)
        self._show_change_line(path)
        if self._panel_timer is not None:
            self._panel_timer.stop()
        if self.workbench is None:  # a preview: the weights are not there yet
            return
        self._panel_timer = self.set_timer(PANEL_DELAY_S, lambda: self.compute_panel(path))

    @work(thread=True, exclusive=True, group="panel", exit_on_error=False, name="layer details")
    def compute_panel(self, path: str) -> None:
        """Compute the parameter table, stats and histogram of `path` in a thread."""
        from tui.layer_details import layer_details

        try:
            module = self.workbench.module(path)
        except PtmError:  # an edit removed it since the cursor was there
            return
        data = layer_details(module, path)
        if not get_current_worker().is_cancelled:
            self.post_message(PanelReady(data))

    def on_panel_ready(self, message: PanelReady) -> None:
        """Draw the computed details (if the cursor is still there)."""
        self.query_one(LayerPanel).show_data(message.data)

    # --- search --------------------------------------------------------------------------

    @on(Input.Submitted, "#search")
    def _on_search(self, event: Input.Submitted) -> None:
        self.search_submitted(event)  # SearchActions (the @on has to be on the screen class)

    def action_back(self) -> None:
        """Cancel a download, close the search box, or go back to the catalog."""
        search = self.query_one("#search", Input)
        if self.query_one(DownloadBar).active:
            self._cancel.set()
        elif search.display:
            search.display = False
            self.query_one(LayerTree).focus()
        elif len(self.app.screen_stack) > 2:
            self.app.pop_screen()
