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

from tui.keymap import key_table


class HelpScreen(ModalScreen[None]):
    """A list of keys for the screen it was opened from."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
        Binding("j,down", "scroll('down')", "Scroll down", show=False, id="help.down"),
        Binding("k,up", "scroll('up')", "Scroll up", show=False, id="help.up"),
        Binding("pagedown,space", "scroll('page_down')", "Page down", show=False,
                id="help.page_down"),
        Binding("pageup,b", "scroll('page_up')", "Page up", show=False, id="help.page_up"),
        Binding("g,home", "scroll('home')", "Top", show=False, id="help.top"),
        Binding("G,end", "scroll('end')", "Bottom", show=False, id="help.bottom"),
    ]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        """A titled table of keys."""
        table = Table(box=None, show_header=True, header_style="bold", expand=False,
                      pad_edge=False)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id (for keys.toml)", style="dim")
        navigation = [
            ("j k / down up", "move in the list or tree"),
            ("h l / left right", "close / open a node (or go to parent / first child)"),
            ("g G / home end", "first / last line"),
            ("enter", "open or close the node (catalog: open the model)"),
        ]
        navigation.append(("ctrl+p", "command palette: every action by name"))
        for key, does in navigation:
            table.add_row(key, does)
        for keys, description, _action, _node, binding_id in key_table(self.under):
            if description in ("Down", "Up", "Close/parent", "Open/child", "Top", "Bottom",
                               "Open/close"):
                continue
            table.add_row(keys, description, binding_id)
        glyphs = self.app.glyphs
        legend = Text.assemble(
            "\n", (glyphs.frozen, "bold cyan"), " frozen   ", (glyphs.mixed, "yellow"),
            " partly frozen   ", (glyphs.trainable, "dim"), " trainable\n",
            ("j k g G scroll; escape or ? closes this help", "dim italic"),
        )
        title = Text(f"ptm-tui keys: {type(self.under).__name__.replace('Screen', '').lower()}",
                     style="bold")
        with VerticalScroll(id="help-box"):
            yield Static(title, id="help-title")
            yield Static(table, id="help-keys")
            yield Static(legend, id="help-legend")

    def action_scroll(self, where: str) -> None:
        """Scroll the list of keys: down, up, page_down, page_up, home or end."""
        box = self.query_one("#help-box", VerticalScroll)
        getattr(box, f"scroll_{where}")(animate=False)

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
