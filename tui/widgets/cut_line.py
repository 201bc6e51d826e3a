"""One line of text cut to the width it is drawn at, the cut marked with the app's ellipsis
(`...` in --ascii, where Rich's own `…` would not do and a plain crop hides that digits went)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from tui.format import cut_end


class CutLine:
    """A Rich renderable: `text` on one line, cut at the end with `ellipsis` when it is too long."""

    def __init__(self, text: str, ellipsis: str, style: str = "") -> None:
        self.text = text
        self.ellipsis = ellipsis
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The line, cut to the width Rich offers."""
        yield Text(cut_end(self.text, options.max_width, self.ellipsis), style=self.style, no_wrap=True)

    def __str__(self) -> str:
        return self.text
