"""The one-line title at the top of a tool screen: what the screen is, and on which model."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ScreenTitle(Static):
    """`Activation stds · resnet18`: bold name, dim model, on the panel colour like the header."""

    DEFAULT_CSS = """
    ScreenTitle {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, name: str, model: str = "", **kwargs) -> None:
        text = Text(name, style="bold")
        if model:
            text.append(f" · {model}", style="dim")
        super().__init__(text, **kwargs)
