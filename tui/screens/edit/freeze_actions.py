"""Explorer freezing: freeze/unfreeze layers, frozen-BatchNorm mode, presets, undo and redo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui.format import plural
from tui.screens.base import error_text
from tui.widgets.layer_tree import LayerTree

if TYPE_CHECKING:
    from tui.screens.explore.explorer import ExplorerScreen


class FreezeActions:
    """Explorer actions for freezing and undoing edits (mixed into ExplorerScreen, which binds the keys).

    Relies on the explorer's `workbench`, `current_path`, `frozen_bn_eval`, `apply_edit(edit)`,
    `refresh_after_edit(edit)` and its LayerTree.
    """

    def action_toggle_freeze(self: ExplorerScreen) -> None:
        """Freeze the subtree under the cursor, or unfreeze it when it is all frozen."""
        path = self.current_path
        if path is None:
            return
        total, trainable = self.query_one(LayerTree).counts.get(path, (0, 0))
        if total == 0:
            self.notify(f"{path or 'the model'} has no parameters to freeze", timeout=3)
            return
        op = "unfreeze" if trainable == 0 else "freeze"
        self.apply_edit({"op": op, "target": path}, quiet=True)

    def action_freeze_before(self: ExplorerScreen) -> None:
        """Freeze every top-level child before the one under the cursor."""
        path = self.current_path
        if self.edit_busy():
            return
        if not path:
            self.notify("move to a layer first: F freezes every top-level block before it")
            return
        from engine.edit.freeze import trainable_blocks_before

        top = path.split(".")[0]
        targets = trainable_blocks_before(self.workbench.model, top)
        if not targets:
            self.notify(f"nothing to freeze before {top}", timeout=3)
            return
        self.apply_steps([{"op": "freeze", "target": name} for name in targets],
                         f"froze {', '.join(targets)} (everything before {top})")

    def action_unfreeze_all(self: ExplorerScreen) -> None:
        """Unfreeze every parameter."""
        total, trainable = self.query_one(LayerTree).counts.get("", (0, 0))
        if self.workbench is not None and trainable == total:
            self.notify("every parameter is already trainable", timeout=3)
            return
        self.apply_edit({"op": "unfreeze", "target": ""})

    def action_toggle_bn_eval(self: ExplorerScreen) -> None:
        """Switch the 'frozen BatchNorm layers stay in eval mode' setting."""
        self.frozen_bn_eval = not self.frozen_bn_eval
        count = self._apply_bn_setting()
        state = "on" if self.frozen_bn_eval else "off"
        self.notify(f"frozen BatchNorm in eval mode: {state} ({plural(count, 'layer')}); the "
                    "recipe and the finetune job follow it", timeout=3)
        self.autosave_now()

    def recipe_train(self: ExplorerScreen) -> dict[str, Any]:
        """Return the [train] settings the explorer shows (b: frozen BatchNorm in eval mode), for
        the recipe, its autosave and the launch form (empty when all are the defaults)."""
        return {} if self.frozen_bn_eval else {"freeze_bn": False}

    def _apply_bn_setting(self: ExplorerScreen, path: str = "") -> int:
        """Put frozen BatchNorm layers under `path` in eval mode (when the setting is on) and
        the others in the model's own mode; return how many frozen BatchNorm layers there are."""
        if self.workbench is None:
            return 0
        from engine.edit.freeze import is_frozen

        model = self.workbench.model
        count = 0
        for module in self.workbench.module(path).modules():
            if "BatchNorm" not in type(module).__name__:
                continue
            frozen = bool(is_frozen(module))
            count += frozen
            module.train(model.training and not (frozen and self.frozen_bn_eval))
        return count

    # --- undo / redo ---------------------------------------------------------------------

    def action_undo(self: ExplorerScreen) -> None:
        """Undo the last edit."""
        if self.edit_busy():
            return
        try:
            edit = self.workbench.undo()
        except Exception as error:  # e.g. its undo copy was let go (PTM_UNDO_MB)
            self.notify(error_text(error), title="undo refused", severity="error", timeout=10)
            self.refresh_after_edit(None)
            return
        if edit is None:
            self.notify("nothing to undo", timeout=4)
            return
        self.refresh_after_edit(edit, undone=True, follow=True)
        self.notify(f"undid {edit.get('op')} {edit.get('target', '')}".rstrip(), timeout=3)

    def action_redo(self: ExplorerScreen) -> None:
        """Redo the last undone edit."""
        if self.edit_busy():
            return
        try:
            edit = self.workbench.redo()
        except Exception as error:
            self.notify(error_text(error), title="redo refused", severity="error", timeout=10)
            self.refresh_after_edit(None)
            return
        if edit is None:
            self.notify("nothing to redo", timeout=4)
            return
        self.refresh_after_edit(edit, follow=True)
        self.notify(f"redid {edit.get('op')} {edit.get('target', '')}".rstrip(), timeout=3)

    # --- presets (tui/screens/edit/freeze_presets.py) -----------------------------------------

    def action_freeze_presets(self: ExplorerScreen) -> None:
        """Pick a freeze preset (detection models) and apply its freeze/unfreeze edits."""
        if self.edit_busy():
            return
        from tui.screens.edit.freeze_presets import FreezePresetDialog

        def done(edits: list[dict[str, Any]] | None) -> None:
            if edits:
                self.apply_steps(edits)

        self.app.push_screen(FreezePresetDialog(self.workbench), callback=done)
