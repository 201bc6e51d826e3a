"""Explorer actions that keep edits: autosave after every edit, restore on open, ask on quit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work

from tui.format import plural
from tui.guard import error_text
from tui.screens.edit.unsaved import RestoreDialog

if TYPE_CHECKING:
    from tui.screens.explore.explorer import ExplorerScreen


class AutosaveActions:
    """Mixed into ExplorerScreen: the recipe is autosaved under $PTM_HOME after every edit."""

    saved_edits: list[dict[str, Any]] | None = None
    """The edits a saved recipe or weights file holds (None: nothing saved since opening)."""
    _autosave_warned = False

    def unsaved_edits(self: ExplorerScreen) -> int:
        """Return how many edits are in force that no saved recipe or weights file holds (0 when
        the edits in force are the ones saved last)."""
        if self.workbench is None:
            return 0
        edits = self.workbench.edits
        return 0 if edits == (self.saved_edits or []) else len(edits)

    def mark_saved(self: ExplorerScreen) -> None:
        """Remember that the edits in force are saved."""
        if self.workbench is not None:
            self.saved_edits = [dict(e) for e in self.workbench.edits]

    def autosave_now(self: ExplorerScreen) -> None:
        """Write the recipe to its autosave file (atomically); say once when that fails."""
        if self.workbench is None:
            return
        from engine.edit.autosave import autosave

        try:
            autosave({**self.workbench.recipe(), "train": self.recipe_train()})
        except Exception as error:  # a full disk must not stop editing: say so once
            if not self._autosave_warned:
                self._autosave_warned = True
                self.notify(
                    f"could not autosave the recipe: {error_text(error)}", severity="warning", timeout=10
                )

    def discard_autosave(self: ExplorerScreen) -> None:
        """Remove this model's autosave (its edits are saved, or were dropped on purpose)."""
        if self.workbench is None:
            return
        from engine.edit.autosave import discard

        discard(self.workbench.name, str(self.workbench.weights))

    def offer_restore(self: ExplorerScreen) -> None:
        """When the model just opened has no edits and an autosave with edits, ask to replay it."""
        wb = self.workbench
        if wb is None or wb.edits or self.no_weights is not None:
            return
        from engine.edit.autosave import autosaved

        recipe = autosaved(wb.name, str(wb.weights))
        if recipe is None:
            return

        def answer(choice: str | None) -> None:
            if choice == "restore":
                if recipe.train and "freeze_bn" in recipe.train:
                    self.frozen_bn_eval = bool(recipe.train["freeze_bn"])
                self.notify(f"restoring {plural(len(recipe.edits), 'edit')}...", timeout=3)
                self.applying = "the autosaved edits"
                self._restore_edits(recipe.edits)
            elif choice == "fresh":
                self.discard_autosave()

        self.app.push_screen(RestoreDialog(wb.name, recipe.edits), answer)

    @work(thread=True, group="edit", exit_on_error=False, name="restore edits")
    def _restore_edits(self: ExplorerScreen, edits: list[dict[str, Any]]) -> None:
        """Apply the autosaved edits one by one (each its own undo step); stop at the first that
        no longer applies, keeping the ones before it."""
        done, problem = 0, ""
        for index, edit in enumerate(edits, start=1):
            try:
                self.workbench.apply(edit, index=index)
            except Exception as error:
                problem = f"edit {index} ({edit.get('op')}) did not apply: {error_text(error)}"
                break
            done += 1
        self.app.call_from_thread(self._restored, done, len(edits), problem)

    def _restored(self: ExplorerScreen, done: int, total: int, problem: str) -> None:
        self.applying = None
        self.refresh_after_edit(None)
        self._history_refresh()
        if problem:
            self.notify(f"restored {done} of {total} edits; {problem}", severity="error", timeout=15)
        else:
            self.notify(f"restored {plural(done, 'autosaved edit')}: u undoes them one by one", timeout=5)

    def save_then(self: ExplorerScreen, what: str, then: Callable[[], None]) -> None:
        """Open the save dialog for `what` ("recipe" or "weights"); call `then` once it saved."""
        self._save(what, then)
