"""A one-line footer of the main keys (lighter than Textual's Footer, which mounts a widget
per binding: with thirty bindings that alone delays the first frame)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

HELP_ACTION = "help"
"""The app's help action: its key always closes the bar (`? help`), whatever the width."""


class KeyBar(Widget):
    """`space Freeze  u Undo  ...  ? help  ^p commands`, fitted to the width of the screen.

    The help and palette keys are always shown at the right. The other keys are shown in the
    screen's order; when they do not all fit, the bindings named in `first` are kept first and
    the rest fill what is left, so at 80 columns the common keys stay and the long tail drops
    (the help screen and ^p list every key).
    """

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self, first: Iterable[str] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.first = tuple(first)
        """Binding ids kept before the others when the bar is too narrow for every key."""

    def on_mount(self) -> None:
        """Redraw whenever the active keys change (focus moves, a screen is pushed)."""
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        """Stop listening."""
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _: Screen) -> None:
        self.refresh()

    def render(self) -> Text:
        """The keys fitted to the width the bar has now (so a resize can never leave it stale)."""
        return self._fitted(self.size.width or self.screen.size.width or 80)

    def _shown_bindings(self) -> tuple[list[Binding], Binding | None]:
        """Return (the shown, enabled bindings in screen order, the help binding)."""
        shown: list[Binding] = []
        help_binding = None
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.action == HELP_ACTION and help_binding is None:
                help_binding = binding
                continue
            if not binding.show or binding.action in seen or not active.enabled:
                continue
            seen.add(binding.action)
            shown.append(binding)
        return shown, help_binding

    def _fitted(self, width: int) -> Text:
        """Return the bar's text for `width` cells."""
        app = self.app
        bindings, help_binding = self._shown_bindings()
        tail = Text()
        if help_binding is not None:
            tail.append_text(Text.assemble((app.get_key_display(help_binding), "bold"),
                                           (" help ", "dim")))
        tail.append_text(Text.assemble((" ^p", "bold"), (" commands ", "dim")))
        parts = {id(b): Text.assemble((app.get_key_display(b), "bold"), (f" {b.description}  ", "dim"))
                 for b in bindings}
        rank = {binding_id: n for n, binding_id in enumerate(self.first)}
        by_priority = sorted(bindings, key=lambda b: rank.get(b.id or "", len(rank)))
        room = width - 1 - tail.cell_len
        kept: set[int] = set()
        for binding in by_priority:
            if parts[id(binding)].cell_len <= room:
                kept.add(id(binding))
                room -= parts[id(binding)].cell_len
            elif binding.id not in rank:
                break  # beyond the kept-first keys, later keys never jump ahead of a dropped one
        text = Text(" ")
        for binding in bindings:
            if id(binding) in kept:
                text.append_text(parts[id(binding)])
        text.append(" " * max(0, width - text.cell_len - tail.cell_len))
        text.append_text(tail)
        return text
