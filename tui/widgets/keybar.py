"""A one-line footer of the main keys (lighter than Textual's Footer, which mounts a widget
per binding: with thirty bindings that alone delays the first frame)."""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    """`space Freeze  F Freeze before  ...  ^p commands`, cut to the width of the screen."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def on_mount(self) -> None:
        """Redraw whenever the active keys change (focus moves, a screen is pushed)."""
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self._draw)

    def on_unmount(self) -> None:
        """Stop listening."""
        self.screen.bindings_updated_signal.unsubscribe(self)

    def on_resize(self) -> None:
        """Cut again to the new width."""
        self._draw()

    def _bindings_changed(self, _: Screen) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.is_attached:
            return
        app = self.app
        width = self.size.width or 80
        tail = Text.assemble((" ^p", "bold"), (" commands ", "dim"))
        text = Text(" ")
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or binding.action in seen or not active.enabled:
                continue
            seen.add(binding.action)
            part = Text.assemble((app.get_key_display(binding), "bold"),
                                 (f" {binding.description}  ", "dim"))
            if text.cell_len + part.cell_len + tail.cell_len > width:
                break
            text.append_text(part)
        text.append(" " * max(0, width - text.cell_len - tail.cell_len))
        text.append_text(tail)
        self.update(text, layout=False)
