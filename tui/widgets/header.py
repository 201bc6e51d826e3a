"""The explorer's header: model, where its weights came from, parameter counts, device."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.format import UNICODE, Glyphs, human_count


class ModelHeader(Static):
    """One line: model · weights source · total params · trainable params · device · edits."""

    def __init__(self, glyphs: Glyphs = UNICODE, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.glyphs = glyphs

    def show(self, name: str, source: str, total: int, trainable: int, device: str,
             edits: int = 0) -> None:
        """Draw the header for the given model state."""
        sep = (self.glyphs.sep, "dim")
        text = Text.assemble(
            (name, "bold"), sep, (source, "italic"), sep,
            (human_count(total), "bold"), " params, ",
            (human_count(trainable), "bold green" if trainable == total else "bold cyan"),
            " trainable", sep, (device, "bold"),
        )
        if edits:
            text.append_text(Text.assemble(sep, f"{edits} edit{'s' if edits != 1 else ''}"))
        self.update(text, layout=False)  # always one line: no layout pass on every edit

    def show_status(self, message: str) -> None:
        """Draw a status line (while the model is loading)."""
        self.update(Text(message, style="italic"), layout=False)
