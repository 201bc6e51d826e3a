"""Explorer actions for surgery: open the surgery dialogs and apply the edits they return."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.screens.edit.layer_dialogs import (
    DeleteDialog,
    HeadDialog,
    InputChannelsDialog,
    ModuleDialog,
    prefill,
)
from tui.screens.edit.weights_dialogs import LoadWeightsDialog, SaveDialog

if TYPE_CHECKING:
    from tui.screens.explore.explorer import ExplorerScreen


class SurgeryActions:
    """Explorer actions for surgery (mixed into ExplorerScreen, which binds the keys).

    Relies on the explorer's `workbench`, `current_path`, `apply_in_background(edit)` and
    `refresh_after_edit(edit)`.
    """

    def _bench(self: ExplorerScreen) -> Any:
        """Return the workbench, or None (having said why) while it loads or an edit runs."""
        return None if self.edit_busy() else self.workbench

    def _layer(self: ExplorerScreen, verb: str) -> str | None:
        path = self.current_path
        if not path:
            self.notify(f"move to a layer first: {verb} works on the layer under the cursor",
                        timeout=3)
            return None
        return path

    def _then_apply(self: ExplorerScreen, edit: dict[str, Any] | None) -> None:
        if edit:
            self.apply_in_background(edit)

    def _history_refresh(self: ExplorerScreen) -> None:
        from tui.widgets.edit_history import EditHistory

        for panel in self.query(EditHistory):
            panel.workbench = self.workbench
            panel.refresh_history(force=True)

    def _module_dialog(self: ExplorerScreen, op: str, verb: str) -> None:
        workbench, path = self._bench(), self._layer(verb)
        if workbench is None or path is None:
            return
        text = prefill(workbench.module(path)) if op == "replace" else ""
        self.app.push_screen(ModuleDialog(workbench, op, path, text), self._then_apply)

    def action_surgery_replace(self: ExplorerScreen) -> None:
        """Replace the layer under the cursor with a module expression."""
        self._module_dialog("replace", "replace")

    def action_surgery_insert_before(self: ExplorerScreen) -> None:
        """Insert a module before the layer under the cursor."""
        self._module_dialog("insert_before", "insert")

    def action_surgery_insert_after(self: ExplorerScreen) -> None:
        """Insert a module after the layer under the cursor."""
        self._module_dialog("insert_after", "insert")

    def action_surgery_delete(self: ExplorerScreen) -> None:
        """Delete the layer under the cursor (after a confirmation)."""
        workbench, path = self._bench(), self._layer("delete")
        if workbench is not None and path is not None:
            self.app.push_screen(DeleteDialog(workbench, path), self._then_apply)

    def action_surgery_head(self: ExplorerScreen) -> None:
        """Give the model a new classifier head."""
        workbench = self._bench()
        if workbench is None:
            return
        found = getattr(self.app, "data_found", {}).get(workbench.name)  # counted in the launch form
        if found is None:
            self.app.push_screen(HeadDialog(workbench), self._then_apply)
            return
        from engine.train.tasks.head_fit import proposed_head

        proposal = proposed_head(workbench.model, len(found.classes), found.keypoints)
        if proposal is None:
            self.app.push_screen(HeadDialog(workbench), self._then_apply)
            return
        edit, why = proposal
        dialog = HeadDialog(workbench, edit["num_classes"], edit.get("target"), f"proposed: {why}")
        self.app.push_screen(dialog, self._then_apply)

    def action_surgery_input(self: ExplorerScreen) -> None:
        """Change the number of input channels of the first conv."""
        workbench = self._bench()
        if workbench is not None:
            self.app.push_screen(InputChannelsDialog(workbench), self._then_apply)

    def action_surgery_load(self: ExplorerScreen) -> None:
        """Load a weights file into the model by name and shape, with a report."""
        workbench = self._bench()
        if workbench is None:
            return

        def done(edit: dict[str, Any] | None) -> None:
            if edit:
                self.refresh_after_edit(edit)
            self._history_refresh()

        self.app.push_screen(LoadWeightsDialog(workbench), done)

    def _save(self: ExplorerScreen, what: str, then: Callable[[], None] | None = None) -> None:
        """Open the save dialog for "weights" or "recipe"; call `then` once the file is written."""
        workbench = self._bench()
        if workbench is None:
            return

        def done(path: Path | None) -> None:
            if path is not None:
                self.mark_saved()
                self.notify(f"saved {what} to {path}", timeout=4)
                if then is not None:
                    then()

        self.app.push_screen(SaveDialog(workbench, what, train=self.recipe_train()), done)

    def action_surgery_save_weights(self: ExplorerScreen) -> None:
        """Save the model's weights (.safetensors or .pth)."""
        self._save("weights")

    def action_surgery_save_recipe(self: ExplorerScreen) -> None:
        """Save the recipe (model and edits) as TOML."""
        self._save("recipe")

    def action_toggle_edit_history(self: ExplorerScreen) -> None:
        """Show or hide the edit-history panel beside the layer panel."""
        from tui.widgets.edit_history import EditHistory

        panels = list(self.query(EditHistory))
        if panels:
            panels[0].display = not panels[0].display
            panels[0].refresh_history(force=True)
            return
        parents = list(self.query("#explorer-body"))
        parent = parents[0] if parents else self
        parent.mount(EditHistory(getattr(self, "workbench", None), id="edit-history"))
