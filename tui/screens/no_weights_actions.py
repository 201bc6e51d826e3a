"""Explorer actions when a model's weights cannot be had: keep the tree, show the ways on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import BadInput, PtmError
from tui.screens.base import error_text
from tui.widgets.layer_panel import LayerPanel
from tui.widgets.layer_tree import LayerTree
from tui.widgets.no_weights import NoWeightsPanel

if TYPE_CHECKING:
    from tui.screens.explorer import ExplorerScreen

NEEDS_WEIGHTS = "needs the weights first: d retries the download, W opens a weights file or folder"


class NoWeightsActions:
    """Mixed into ExplorerScreen: the "no weights" state, `d` (retry) and `W` (open a file)."""

    no_weights: str | None = None
    """Why the weights could not be had (None while they can, or are not wanted)."""

    def show_no_weights(self: ExplorerScreen, error: BaseException | None) -> bool:
        """Keep the meta tree and show the panel of ways on; return False when it does not apply."""
        tree = self.query_one(LayerTree)
        wanted = str(self.weights).lower() not in ("none", "random", "")
        if tree.model is None or not wanted or not isinstance(error, PtmError) \
                or (isinstance(error, BadInput) and "weights" not in error.message):
            return False  # no architecture to keep, or the model itself is wrong
        self.no_weights = error_text(error)
        total, trainable = tree.counts.get("", (0, 0))
        from tui.widgets.header import ModelHeader

        self.query_one(ModelHeader).show(self.model_name, "no weights", total, trainable,
                                         self.device)
        self.query_one(LayerPanel).display = False
        panel = self.query_one(NoWeightsPanel)
        panel.show_reason(self.no_weights)
        panel.display = True
        return True

    def action_retry_weights(self: ExplorerScreen) -> None:
        """Try to open the model with its weights again (after the network or a mirror is fixed)."""
        if self.no_weights is None:
            return
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
        self.weights = weights
        self.query_one(NoWeightsPanel).display = False
        self.query_one(LayerPanel).display = True
        self.query_one(LayerTree).focus()
        self._cancel.clear()
        self.notify(f"opening {self.model_name} with weights {weights}...", timeout=3)
        self.open_model()
