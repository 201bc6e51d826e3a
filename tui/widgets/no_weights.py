"""The explorer's "no weights" panel: why the weights could not be had, and every way on."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Input, Static, Tree

from engine.models.weights.guidance import WAYS_ON
from tui.widgets.path_input import PathInput


class NoWeightsPanel(VerticalScroll):
    """Shown instead of the layer panel when the model's weights could not be had."""

    DEFAULT_CSS = """
    NoWeightsPanel {
        display: none;
        width: 1fr;
        height: 1fr;
        padding: 0 1;
    }
    NoWeightsPanel #no-weights-title { text-style: bold; color: $warning; }
    NoWeightsPanel #no-weights-reason { margin-bottom: 1; }
    NoWeightsPanel #no-weights-path { margin-top: 1; }
    """

    class OpenWeights(Message):
        """The user typed a weights file or folder to open the model with."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    def compose(self) -> ComposeResult:
        """Title, the whole reason, the ways on, and a path prompt for `W`."""
        yield Static("No weights: the architecture is here, not its pretrained weights",
                     id="no-weights-title")
        yield Static("", id="no-weights-reason")
        yield Static(self._ways(), id="no-weights-ways")
        prompt = PathInput(placeholder="weights file or folder (enter opens, escape closes)",
                       id="no-weights-path")
        prompt.display = False
        yield prompt

    @staticmethod
    def _ways() -> str:
        """Return the ways on as markup, one paragraph each, keys first."""
        lines = ["[b]Ways on[/b] (meanwhile the tree, freezing, surgery, the summary and the "
                 "recipe work on the architecture; statistics, init, predict and finetune need "
                 "the weights):"]
        for way in WAYS_ON:
            key = f"[b reverse] {way.key} [/] " if way.key else "  - "
            lines.append(f"{key}[b]{escape(way.title)}[/b]: {escape(way.how)}")
        return "\n".join(lines)

    def show_reason(self, reason: str) -> None:
        """Show why the weights could not be had, in full (not cut to one line)."""
        self.query_one("#no-weights-reason", Static).update(escape(reason))

    def ask_path(self) -> None:
        """Show and focus the prompt for a weights file or folder."""
        prompt = self.query_one("#no-weights-path", Input)
        prompt.display = True
        prompt.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: ask the explorer to open the model with the typed path."""
        event.stop()
        path = event.value.strip()
        if path:
            event.input.display = False
            self.post_message(self.OpenWeights(path))

    def on_key(self, event: Any) -> None:
        """Escape closes the prompt."""
        prompt = self.query_one("#no-weights-path", Input)
        if event.key == "escape" and prompt.display:
            event.stop()
            prompt.display = False
            trees = self.screen.query(Tree)
            if trees:
                trees.first().focus()
