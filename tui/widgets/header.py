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
        """Draw the header for the given model state, fitted to one line: the name and the edit
        count first; then the weights' source, the counts and the device while they fit (the
        name is cut in the middle last, numbers never)."""
        self._shown = (name, source, total, trainable, device, edits)
        sep = (self.glyphs.sep, "dim")
        width = self.content_region.width or 200
        parts = []
        if edits:
            parts.append(Text.assemble(sep, (f"{edits} edit{'s' if edits != 1 else ''}", "bold")))
        room = width - min(len(name), 12) - sum(p.cell_len for p in parts) - len(sep[0])
        source = short_name(source, max(8, room), self.glyphs.ellipsis, sep="/")  # a file path
        parts += [
            Text.assemble(sep, (source, "italic")),
            Text.assemble(sep, (human_count(total), "bold"), " params"),
            Text.assemble(", ", (human_count(trainable),
                                 "bold green" if trainable == total else "bold cyan"), " trainable"),
            Text.assemble(sep, (device, "bold")),
        ]
        while len(parts) > 1 and min(len(name), 12) + sum(p.cell_len for p in parts) > width:
            parts.pop()  # the device first, then the trainable count, then the total
        tail = Text.assemble(*parts)
        room = max(8, width - tail.cell_len)
        text = Text.assemble((short_name(name, room, self.glyphs.ellipsis), "bold"), tail)
        self.update(text, layout=False)  # always one line: no layout pass on every edit

    def on_resize(self) -> None:
        """Fit the model's name again to the new width."""
        if self._shown is not None:
            self.show(*self._shown)

    def show_status(self, message: str) -> None:
        """Draw a status line (while the model is loading)."""
        self._shown = None
        self.update(Text(message, style="italic"), layout=False)
