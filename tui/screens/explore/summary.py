"""The summary screen: every layer's output shape, parameters and mult-adds, with the totals."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from tui.format import human_count
from tui.screens.base import PtmScreen


def shape_text(shape: Any) -> str:
    """Return an output shape as 1x64x112x112 (several outputs joined by commas; - for none)."""
    if shape is None:
        return "-"
    if isinstance(shape, (list, tuple)):
        if shape and all(isinstance(s, int) for s in shape):
            return "x".join(map(str, shape))
        return ", ".join(shape_text(s) for s in shape) or "-"
    return str(shape)


def summary_rows(rows: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Return (layer, type, output shape, params, mult-adds) per layer, the layer indented by depth
    and named by its last path part, as torchinfo's table does."""
    table = []
    for path, row in rows.items():
        if not path:
            continue
        depth = getattr(row, "depth", path.count(".") + 1)
        calls = getattr(row, "calls", 1)
        name = "  " * max(0, depth - 1) + path.rpartition(".")[2]
        # escaped: a DataTable reads str cells as markup, and names come from the user's code
        table.append((escape(name + (f" (x{calls})" if calls > 1 else "")),
                      escape(getattr(row, "type", "")),
                      shape_text(row.output_shape), f"{row.params:,}" if row.params else "-",
                      human_count(row.mult_adds) if row.mult_adds else "-"))
    return table


class SummaryScreen(PtmScreen):
    """The torchinfo-style table of a model (scrollable) and its totals; escape goes back."""

    DEFAULT_CSS = """
    SummaryScreen #summary-title { height: auto; padding: 0 1; text-style: bold; }
    SummaryScreen #summary-table { height: 1fr; }
    SummaryScreen #summary-totals { height: auto; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,s", "close", "Back", id="summary.close"),
    ]

    def __init__(self, name: str, rows: dict[str, Any], input_size: Any,
                 path: str | None = None) -> None:
        super().__init__()
        self.model_name = name
        self.rows = rows
        self.input_size = input_size
        self.path = path
        """The layer to put the cursor on (the explorer's cursor)."""

    def compose(self) -> ComposeResult:
        """Title, the table, the totals and the footer."""
        size = shape_text(tuple(self.input_size)) if self.input_size else "-"
        yield Static(Text(f"Summary of {self.model_name}, input {size}"), id="summary-title")
        yield DataTable(id="summary-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="summary-totals")
        yield Footer()

    def on_mount(self) -> None:
        """Fill the table, put the cursor on the explorer's layer and write the totals."""
        table = self.query_one(DataTable)
        table.add_column("layer", key="layer")
        table.add_column("type", key="type")
        table.add_column("output shape", key="shape")
        table.add_column("params", key="params")
        table.add_column("mult-adds", key="mult_adds")
        paths = [path for path in self.rows if path]
        for path, values in zip(paths, summary_rows(self.rows), strict=True):
            table.add_row(*values, key=path)
        if self.path in paths:
            table.move_cursor(row=paths.index(self.path))
        table.focus()
        root = self.rows.get("")
        params = root.params if root is not None else sum(r.params for r in self.rows.values())
        mult_adds = root.mult_adds if root is not None else 0
        output = shape_text(root.output_shape) if root is not None else "-"
        self.query_one("#summary-totals", Static).update(Text.assemble(
            ("total params ", "dim"), (f"{params:,}", "bold"),
            ("   total mult-adds ", "dim"), (f"{human_count(mult_adds)} ({mult_adds:,})", "bold"),
            ("   output ", "dim"), (output, "bold"), ("   layers ", "dim"), (str(len(paths)), "bold")))

    def action_close(self) -> None:
        """Go back to the explorer."""
        self.app.pop_screen()
