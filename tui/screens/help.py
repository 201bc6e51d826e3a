"""The help screen: every key of the screen below it, what it does, and the freeze marks."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.keymap import KeyRow, key_rows
from tui.navigation import NavigationKeys


def _order(row: KeyRow, under: Screen) -> int:
    """The screen's own keys first, then moving in lists and panels, then the app's, then
    Textual's own (tab, copy)."""
    if not row.binding_id:
        return 3
    if row.node is under.app:
        return 2
    return 0 if row.node is under and not row.binding_id.startswith("nav.") else 1


class HelpScreen(ModalScreen[None], NavigationKeys):
    """The keys of the screen it was opened from, as that screen and its focused widget bind
    them now (read before this screen covers it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
    ]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under
        self.rows = sorted(key_rows(under), key=lambda row: _order(row, under))
        """What each key does on `under`, read while it has the focus it had."""

    def compose(self) -> ComposeResult:
        """A titled table of keys."""
        table = Table(box=None, show_header=True, header_style="bold", expand=False,
                      pad_edge=False)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id (for keys.toml)", style="dim")
        for row in self.rows:
            does = row.description if row.enabled else f"{row.description} (not now)"
            table.add_row(row.shown, does, row.binding_id, style="" if row.enabled else "dim")
        glyphs = self.app.glyphs
        legend = Text("\n")
        if self.under.query("LayerTree"):  # the freeze marks: only where a layer tree shows them
            legend.append_text(Text.assemble(
                (glyphs.frozen, "bold cyan"), " frozen   ", (glyphs.mixed, "yellow"),
                " partly frozen   ", (glyphs.trainable, "dim"), " trainable\n"))
        legend.append("tab moves between panels; j k g G scroll; escape or ? closes this help",
                      "dim italic")
        title = Text(f"ptm-tui keys: {type(self.under).__name__.replace('Screen', '').lower()}",
                     style="bold")
        with VerticalScroll(id="help-box"):
            yield Static(title, id="help-title")
            yield Static(table, id="help-keys")
            yield Static(legend, id="help-legend")

    def on_mount(self) -> None:
        """Focus the list, so the navigation keys scroll it."""
        self.query_one("#help-box", VerticalScroll).focus()

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
