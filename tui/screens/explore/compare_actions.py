"""Explorer: load a comparison (D) and show each layer's change in the tree and the panel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui.widgets.layer_panel import LayerPanel
from tui.widgets.layer_tree import LayerTree

if TYPE_CHECKING:
    from tui.screens.explore.explorer import ExplorerScreen


class CompareActions:
    """Compare the open model with other weights (mixed into ExplorerScreen).

    Relies on the explorer's `workbench`, `current_path` and `edit_busy()`; the tree shows
    ||B-A||/||A|| after each layer and the panel a line with the cosine similarity too.
    """

    comparison_label: str | None = None
    _compared_weights: int | None = None
    """A fingerprint of the weights the comparison was made with (tensors and their versions)."""
    _checked_generation: int = -1

    def action_compare_weights(self: ExplorerScreen) -> None:
        """Ask for weights to compare with (tui/screens/explore/compare_dialog.py), as `ptm-tui diff`."""
        if self.edit_busy():
            return
        from tui.screens.explore.compare_dialog import CompareDialog

        def done(result: Any) -> None:
            if result is None:
                return
            label, changes = result
            self.comparison_label = label
            self._compared_weights = self._weights_fingerprint()
            self._checked_generation = self.generation
            self.query_one(LayerTree).show_changes(changes)
            self._show_change_line(self.current_path or "")
            total = changes.get("")
            moved = f": the whole model moved by {total.relative_text(3)}" if total else ""
            self.notify(f"compared with {label}{moved}", timeout=6)

        self.app.push_screen(CompareDialog(self.workbench), done)

    def _show_change_line(self: ExplorerScreen, path: str) -> None:
        """Show the layer's change against the comparison in the panel (nothing without one)."""
        panel = self.query_one(LayerPanel)
        if self.comparison_label is not None and self.generation != self._checked_generation:
            self._checked_generation = self.generation  # an edit since: do the weights differ?
            if self._weights_fingerprint() != self._compared_weights:
                self.comparison_label = None
                self.query_one(LayerTree).show_changes({})
                self.notify("the comparison was cleared: the weights changed since (D compares "
                            "again)", timeout=5)
        if self.comparison_label is None:
            panel.show_change(None)
            return
        change = self.query_one(LayerTree).changes.get(path)
        if change is None:
            panel.show_change(f"changed: not in {self.comparison_label}")
            return
        cosine = "-" if change.cosine is None else f"{change.cosine:.6f}"
        panel.show_change(f"changed vs {self.comparison_label}: ||B-A||/||A|| "
                          f"{change.relative_text(3)}, cosine {cosine}")

    def _weights_fingerprint(self: ExplorerScreen) -> int:
        """Return a number that changes when any tensor of the model is replaced or written to
        (a freeze leaves it as it is)."""
        tensors = self.workbench.model.state_dict(keep_vars=True).values()
        return hash(tuple((id(t), t._version) for t in tensors))
