"""Freeze presets of detection models: pick one, get its freeze/unfreeze edits."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.navigation import NavigationKeys


class FreezePresetDialog(ModalScreen[list[dict[str, Any]] | None], NavigationKeys):
    """List the presets that apply to the model; enter returns the chosen preset's edits."""

    DEFAULT_CSS = """
    FreezePresetDialog { align: center middle; }
    FreezePresetDialog #presets-box { width: 80; max-width: 100%; height: auto;
                                      border: thick $primary; background: $surface;
                                      padding: 0 1; }
    FreezePresetDialog #presets-title { text-style: bold; margin-bottom: 1; }
    FreezePresetDialog OptionList { height: auto; max-height: 8; }
    FreezePresetDialog #presets-n-row { height: auto; margin-top: 1; }
    FreezePresetDialog #presets-n-row Label { padding: 1 1 0 0; }
    FreezePresetDialog #presets-n { width: 12; }
    FreezePresetDialog #presets-preview { height: auto; margin-top: 1; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="freeze_presets.cancel"),
    ]

    def __init__(self, workbench: Any) -> None:
        super().__init__()
        self.workbench = workbench
        from engine.edit.detection_heads import freeze_presets

        self.presets = freeze_presets(workbench.model)

    def compose(self) -> ComposeResult:
        """The preset list, N (for "the last N layers"), and the edits it makes."""
        with Vertical(id="presets-box"):
            yield Static("Freeze presets (enter: apply, escape: cancel)", id="presets-title")
            if self.presets:
                yield OptionList(*[Option(p.title, id=p.id) for p in self.presets],
                                 id="presets-list")
            else:
                yield Static("no preset applies to this model: presets are for detection and "
                             "segmentation models (a backbone, an FPN, a keypoint head)")
            with Horizontal(id="presets-n-row"):
                yield Label("N (last layers of the keypoint head)")
                yield Input("1", type="integer", id="presets-n")
            yield Static("", id="presets-preview")

    def on_mount(self) -> None:
        """Focus the list and preview the first preset."""
        if self.presets:
            self.query_one(OptionList).focus()
            self.query_one(OptionList).highlighted = 0
        self._preview()

    def _chosen(self) -> str | None:
        if not self.presets:
            return None
        index = self.query_one(OptionList).highlighted
        return self.presets[index or 0].id

    def edits(self) -> list[dict[str, Any]]:
        """Return the edits of the highlighted preset (raises BadInput on a bad N)."""
        from engine.edit.detection_heads import preset_edits

        chosen = self._chosen()
        if chosen is None:
            return []
        if chosen == "keypoint-head-last":
            text = self.query_one("#presets-n", Input).value.strip()
            return preset_edits(self.workbench.model, chosen, n=int(text) if text.isdigit() else -1)
        return preset_edits(self.workbench.model, chosen)

    def _preview(self) -> None:
        from engine.errors import PtmError

        chosen = self._chosen()
        self.query_one("#presets-n-row").display = chosen == "keypoint-head-last"
        try:
            lines = [f"{e['op']} {e['target']}" for e in self.edits()]
        except PtmError as error:
            lines = [error.message]
        self.query_one("#presets-preview", Static).update(Text("\n".join(lines)))

    def on_option_list_option_highlighted(self, _event: OptionList.OptionHighlighted) -> None:
        """Show what the highlighted preset will do."""
        self._preview()

    def on_input_changed(self, _event: Input.Changed) -> None:
        """N changed: show the new edits."""
        self._preview()

    def on_option_list_option_selected(self, _event: OptionList.OptionSelected) -> None:
        """Enter on a preset applies it."""
        self._apply()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        """Enter in N applies the preset."""
        self._apply()

    def _apply(self) -> None:
        from engine.errors import PtmError

        try:
            edits = self.edits()
        except PtmError as error:
            self.query_one("#presets-preview", Static).update(Text(error.message))
            return
        self.dismiss(edits or None)

    def action_cancel(self) -> None:
        """Close without edits."""
        self.dismiss(None)
