"""A download progress line drawn with the app's glyphs (ASCII with --ascii)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.format import UNICODE, Glyphs, progress_text


class DownloadBar(Static):
    """`label [#####.....]  45%  11.0 MB / 24.4 MB  (escape cancels)`; hidden when idle."""

    DEFAULT_CSS = """
    DownloadBar { height: 1; display: none; }
    DownloadBar.-active { display: block; }
    """

    def __init__(self, glyphs: Glyphs = UNICODE, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.glyphs = glyphs
        self.done = 0
        self.total: int | None = None

    def start(self, label: str) -> None:
        """Show the bar for a new download."""
        self.label = label
        self.done, self.total = 0, None
        self.add_class("-active")
        self.update_progress(0, None)

    def update_progress(self, done: int, total: int | None) -> None:
        """Redraw with `done` of `total` bytes."""
        self.done, self.total = done, total
        width = max(10, (self.size.width or 60) - len(self.label) - 45)
        self.update(Text.assemble((f"{self.label} ", "bold"),
                                  progress_text(done, total, width, self.glyphs),
                                  ("  (escape cancels)", "dim")))

    def stop(self) -> None:
        """Hide the bar."""
        self.remove_class("-active")

    @property
    def active(self) -> bool:
        """Whether a download is being shown."""
        return self.has_class("-active")
