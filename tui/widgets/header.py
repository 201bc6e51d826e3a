"""The explorer's header: model, where its weights came from, parameter counts, device."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.format import UNICODE, Glyphs, human_count, short_name


class ModelHeader(Static):
    """One line: model · weights source · total params · trainable params · device · edits."""

    def __init__(self, glyphs: Glyphs = UNICODE, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.glyphs = glyphs
        self._shown: tuple | None = None

    def show(self, name: str, source: str, total: int, trainable: int, device: str,
             edits: int = 0) -> None:
        """Draw the header for the given model state (a long model name is cut, not the counts)."""
        self._shown = (name, source, total, trainable, device, edits)
        sep = (self.glyphs.sep, "dim")
        tail = Text.assemble(
            sep, (source, "italic"), sep,
            (human_count(total), "bold"), " params, ",
            (human_count(trainable), "bold green" if trainable == total else "bold cyan"),
            " trainable", sep, (device, "bold"),
        )
        if edits:
            tail.append_text(Text.assemble(sep, f"{edits} edit{'s' if edits != 1 else ''}"))
        room = (self.content_region.width or 200) - tail.cell_len
        text = Text.assemble((short_name(name, max(12, room), self.glyphs.ellipsis), "bold"), tail)
        self.update(text, layout=False)  # always one line: no layout pass on every edit

    def on_resize(self) -> None:
        """Fit the model's name again to the new width."""
        if self._shown is not None:
            self.show(*self._shown)

    def show_status(self, message: str) -> None:
        """Draw a status line (while the model is loading)."""
        self._shown = None
        self.update(Text(message, style="italic"), layout=False)
