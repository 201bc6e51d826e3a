"""Explorer actions when a model's weights cannot be had: keep the tree, show the ways on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import BadInput, PtmError
from tui.messages import ModelOpened
from tui.screens.base import error_text
from tui.widgets.layer_panel import LayerPanel
from tui.widgets.layer_tree import LayerTree
from tui.widgets.no_weights import NoWeightsPanel

if TYPE_CHECKING:
    from torch import nn

    from tui.screens.explore.explorer import ExplorerScreen

NEEDS_WEIGHTS = ("this needs the weights first: d retries the download, W opens a weights file "
                 "or folder")


class NoWeightsActions:
    """Mixed into ExplorerScreen: the "no weights" state, `d` (retry) and `W` (open a file)."""

    no_weights: str | None = None
    """Why the weights could not be had (None while they can, or are not wanted)."""
    planned: list[dict] | None = None
    """Edits made on the architecture alone, to replay once the weights arrive."""

    def replay_planned(self: ExplorerScreen) -> None:
        """Apply the edits planned without weights to the model that now has them, in order."""
        planned, self.planned = self.planned, None
        if not planned or self.workbench is None:
            return
        for index, edit in enumerate(planned, start=1):
            try:
                self.workbench.apply(edit)
            except PtmError as error:
                self.notify(f"edit {index} of {len(planned)} planned without weights ({edit.get('op')}) "
                            f"could not be replayed: {error_text(error)}; the later ones were not "
                            "either", severity="error", timeout=10)
                return
        self.notify(f"replayed the {len(planned)} edit(s) planned without weights", timeout=4)

    def show_no_weights(self: ExplorerScreen, error: BaseException | None) -> bool:
        """Keep the meta tree and show the panel of ways on; return False when it does not apply."""
        tree = self.query_one(LayerTree)
        wanted = str(self.weights).lower() not in ("none", "random", "")
        if tree.model is None or not wanted or not isinstance(error, PtmError) \
                or (isinstance(error, BadInput) and "weights" not in error.message):
            return False  # no architecture to keep, or the model itself is wrong
        self.no_weights = error_text(error)
        self.query_one(LayerPanel).display = False
        panel = self.query_one(NoWeightsPanel)
        panel.show_reason(self.no_weights)
        panel.display = True
        # The meta model becomes the workbench: freezing, surgery, the summary and the recipe
        # work on the architecture; what needs real tensors says so (below).
        from engine.edit.workbench import Workbench  # torch is loaded by now

        self.post_message(ModelOpened(Workbench(
            model=tree.model, name=self.model_name, weights=str(self.weights),
            source="no weights",
            input_size=_input_size(self.model_name, tree.model, str(self.weights)))))
        return True

    def needs_weights(self: ExplorerScreen) -> bool:
        """Return True (and say what to do) when the model has no weights to work with."""
        if self.no_weights is None:
            return False
        self.notify(NEEDS_WEIGHTS, severity="warning", timeout=5)
        return True

    def action_initialise(self: ExplorerScreen) -> None:
        """i: initialising needs real tensors."""
        if not self.needs_weights():
            super().action_initialise()  # type: ignore[misc]

    def action_activation_std(self: ExplorerScreen) -> None:
        """A: the activation stds run the model."""
        if not self.needs_weights():
            super().action_activation_std()  # type: ignore[misc]

    def action_finetune(self: ExplorerScreen) -> None:
        """t: finetuning starts from the weights."""
        if not self.needs_weights():
            super().action_finetune()  # type: ignore[misc]

    def action_predict(self: ExplorerScreen) -> None:
        """p: predictions run the model."""
        if not self.needs_weights():
            super().action_predict()  # type: ignore[misc]

    def action_actmap(self: ExplorerScreen) -> None:
        """m: activation maps run the model."""
        if not self.needs_weights():
            super().action_actmap()  # type: ignore[misc]

    def action_export_model(self: ExplorerScreen) -> None:
        """X: exporting writes the weights."""
        if not self.needs_weights():
            super().action_export_model()  # type: ignore[misc]

    def action_surgery_save_weights(self: ExplorerScreen) -> None:
        """ctrl+s: there are no weights to save."""
        if not self.needs_weights():
            super().action_surgery_save_weights()  # type: ignore[misc]

    def action_retry_weights(self: ExplorerScreen) -> None:
        """Try to open the model with its weights again (after the network or a mirror is fixed)."""
        if self.no_weights is None:
            return
        self.offline = False  # d is the user asking for the download
        self._reopen(self.weights)

    def action_surgery_load(self: ExplorerScreen) -> None:
        """W: without weights, ask for a weights file or folder; with them, load one into the model."""
        if self.no_weights is not None:
            self.query_one(NoWeightsPanel).ask_path()
            return
        super().action_surgery_load()  # type: ignore[misc]

    def on_no_weights_panel_open_weights(self: ExplorerScreen,
                                         message: NoWeightsPanel.OpenWeights) -> None:
        """Open the model again with the file or folder typed into the panel."""
        self._reopen(message.path)

    def _reopen(self: ExplorerScreen, weights: str) -> None:
        """Hide the panel and open the model again with `weights` (the tree stays meanwhile)."""
        self.no_weights = None
        if self.workbench is not None:  # edits planned on the architecture: replayed on arrival
            self.planned = list(self.workbench.edits)
        self.workbench = None  # the weights' model replaces the meta one when it arrives
        self.weights = weights
        self.query_one(NoWeightsPanel).display = False
        self.query_one(LayerPanel).display = True
        self.query_one(LayerTree).focus()
        self._cancel.clear()
        self.notify(f"opening {self.model_name} with weights {weights}...", timeout=3)
        self.open_model()


def _input_size(name: str, model: nn.Module, weights: str) -> tuple[int, ...] | None:
    """Return the model's input size with batch 1 as `weights` (else its default ones) give it."""
    from engine.models import catalog
    from engine.models.architecture import weights_entry
    from engine.models.loader import input_size_for

    try:
        info = catalog.model_info(name)
        default = catalog.resolve_weights(name, "default") if info.default_weights else None
        return input_size_for(info, weights_entry(name, weights) or default, model)
    except PtmError:
        return None
