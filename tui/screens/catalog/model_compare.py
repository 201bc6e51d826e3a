"""Marked catalog models side by side: params, GFLOPs, file size, input, metrics, categories,
cached, input layer and head, from the catalog and a meta build (nothing is downloaded)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from engine.inspect.model_compare import MOST_COMPARED
from tui.screens.base import PtmScreen
from tui.widgets.keybar import KeyBar
from tui.widgets.title import ScreenTitle


def toggle_mark(marked: list[str], name: str) -> str | None:
    """Mark `name` for comparing, or unmark it; return why it was not marked (already four)."""
    if name in marked:
        marked.remove(name)
        return None
    if len(marked) >= MOST_COMPARED:
        return f"{MOST_COMPARED} models are marked already: unmark one (space) before marking {name}"
    marked.append(name)
    return None


def mark_on(screen: Screen, marked: list[str], name: str) -> bool:
    """Mark or unmark `name` from `screen` (space in the catalog and its plot); return False after
    warning why it was not marked."""
    refused = toggle_mark(marked, name)
    if refused:
        screen.notify(refused, severity="warning", timeout=4)
    return refused is None


def compare_from(screen: Screen, marked: list[str]) -> None:
    """Open the compare screen on the marked models (c), or warn why they cannot be compared yet."""
    if len(marked) < 2:
        screen.notify(
            f"{len(marked)} model{'s' if len(marked) != 1 else ''} marked: mark 2 to "
            f"{MOST_COMPARED} models with space in the list, then compare",
            severity="warning",
            timeout=5,
        )
        return
    screen.app.push_screen(ModelCompareScreen(marked))


class FiguresRead(Message):
    """The compared models' figures are read."""

    def __init__(self, figures: list[Any]) -> None:
        self.figures = figures
        super().__init__()


class ModelCompareScreen(PtmScreen):
    """2 to 4 models side by side; escape goes back to the list."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="compare_models.back"),
    ]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = list(names)
        self.figures: list[Any] = []

    def compose(self) -> ComposeResult:
        """Title, the table (scrolls when the terminal is short), footer."""
        yield ScreenTitle("Compare models", " ".join(self.names), id="compare-models-title")
        with VerticalScroll(id="compare-models-box"):
            yield Static(
                Text(
                    f"reading {len(self.names)} models (a meta build each; nothing is downloaded)...",
                    style="italic",
                ),
                id="compare-models-table",
            )
        yield KeyBar()

    def on_mount(self) -> None:
        """Read the figures in a worker."""
        self.query_one("#compare-models-box", VerticalScroll).focus()
        self._read(self.names)

    @work(thread=True, exclusive=True, group="compare-models", exit_on_error=False, name="model comparison")
    def _read(self, names: list[str]) -> None:
        """Build each model on meta and read its figures, in a thread."""
        from engine.inspect.model_compare import compare_models

        self.post_message(FiguresRead(compare_models(names)))

    def on_figures_read(self, message: FiguresRead) -> None:
        """Show the table."""
        from tui.model_compare_table import compare_table

        self.figures = message.figures
        self.query_one("#compare-models-table", Static).update(
            compare_table(self.figures, self.app.glyphs.check)
        )

    def worker_failed(self, worker: Any) -> bool | None:
        """Say in place of the table that the comparison failed (the toast says why)."""
        self.query_one("#compare-models-table", Static).update(
            Text("the comparison could not be read", style="red")
        )
        return None

    def action_back(self) -> None:
        """Back to the list."""
        self.dismiss(None)
