"""The catalog's weights picker: a model's weights entries (and random init), to open one of them."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.format import human_count, short_name
from tui.navigation import NavigationKeys

RANDOM_INIT = "none"
"""What the picker returns for "none (random init)"."""
DOWNLOAD = "download:"
"""What the picker's result starts with when `d` asked to download that weights entry."""

COLUMN_WIDTHS = {"acc@1": 6, "params": 7, "GFLOPs": 7, "cached": 6}
"""Fixed widths; the weights name gets the rest of the box."""


class WeightsPicker(ModalScreen[str | None], NavigationKeys):
    """Pick which weights to open a model with: each entry's acc@1, params, GFLOPs and whether its
    file is here; the result is the entry's name, "none" for random init, None when closed."""

    DEFAULT_CSS = """
    WeightsPicker { align: center middle; }
    WeightsPicker #picker-box { width: 80; max-width: 100%; height: auto; max-height: 100%;
                                border: thick $primary; background: $surface; padding: 0 1; }
    WeightsPicker #picker-title { text-style: bold; }
    WeightsPicker #picker-table { height: auto; max-height: 14; }
    WeightsPicker #picker-hint { color: $text-muted; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="weights_picker.close"),
        Binding("d", "download", "Download", id="weights_picker.download"),
    ]

    def __init__(self, info: Any, downloaded: bool = False) -> None:
        super().__init__()
        self.info = info
        self.downloaded = downloaded
        """The catalog downloaded this model's default weights in this session."""
        self.choices: list[str] = [w.short_name for w in info.weights] + [RANDOM_INIT]

    def compose(self) -> ComposeResult:
        """Title, the table of weights entries, a hint line."""
        with Vertical(id="picker-box"):
            yield Static(Text(f"Open {self.info.name} with which weights?"), id="picker-title")
            yield DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
            yield Static("enter opens (weights not here: the explorer says how to get them); "
                         "d downloads the highlighted weights; escape closes", id="picker-hint")

    def on_mount(self) -> None:
        """Fill the table, the cursor on the default weights."""
        table = self.query_one(DataTable)
        glyphs = self.app.glyphs
        fixed = sum(COLUMN_WIDTHS.values()) + 2 * (len(COLUMN_WIDTHS) + 1)
        name_width = max(16, min(self.app.size.width, 80) - 6 - fixed - 2)
        table.add_column("weights", width=name_width)
        for label, width in COLUMN_WIDTHS.items():
            table.add_column(label, width=width)
        default = self.info.default_weights
        start = 0
        for row, weights in enumerate(self.info.weights):
            is_default = default in (weights.name, weights.short_name)
            start = row if is_default else start
            label = weights.short_name + (" (default)" if is_default else "")
            cached = weights.cached or (is_default and self.downloaded)
            table.add_row(short_name(label, name_width, glyphs.ellipsis),
                          _number(weights.acc1), human_count(weights.params),
                          _number(weights.gflops),
                          Text(glyphs.check, style="bold green") if cached else "",
                          key=weights.short_name)
        table.add_row("none (random init)", "-", "-", "-", "", key=RANDOM_INIT)
        table.move_cursor(row=start)
        table.focus()

    @on(DataTable.RowSelected, "#picker-table")
    def _picked(self, event: DataTable.RowSelected) -> None:
        """Enter: close with the highlighted entry."""
        event.stop()
        self.dismiss(self.choices[event.cursor_row])

    def action_download(self) -> None:
        """d: close, asking the catalog to download the highlighted weights entry."""
        choice = self.choices[self.query_one(DataTable).cursor_row]
        if choice == RANDOM_INIT:
            self.notify("random init needs no download: enter opens it", timeout=4)
            return
        self.dismiss(DOWNLOAD + choice)

    def action_close(self) -> None:
        """Escape: close without opening anything."""
        self.dismiss(None)


def _number(value: float | None) -> str:
    """Return a table cell for a metric, or a dash."""
    return "-" if value is None else f"{value:.2f}"
