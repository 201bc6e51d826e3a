"""One keyboard model on every screen: j k g G ctrl+f ctrl+b Home End move in the focused list,
table or tree (or scroll the focused panel), and a text field keeps every key while it has focus.

Screens mix NavigationKeys in after their Screen base (Textual reads CSS type names along the
first base: `class PtmScreen(Screen, NavigationKeys)`); a screen or widget that binds one of
these keys itself (the layer tree, the jobs table) keeps its own meaning.
"""

from __future__ import annotations

from typing import ClassVar

from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Input, TextArea

MOVES: dict[str, tuple[str, ...]] = {
    "down": ("cursor_down", "scroll_down"),
    "up": ("cursor_up", "scroll_up"),
    "first": ("scroll_top", "first", "scroll_home"),
    "last": ("scroll_bottom", "last", "scroll_end"),
    "page_down": ("page_down",),
    "page_up": ("page_up",),
}
"""Each move and the widget actions that make it, best first: DataTable's scroll_top moves its
cursor to the first row (its home only scrolls sideways), OptionList has first, a tree or a panel
scroll_home."""


def nav_target(focused: Widget | None) -> Widget | None:
    """Return the widget the navigation keys move: the focused list, table, tree or scrolling
    panel (or the nearest one around the focused widget); None while a text field has focus."""
    if focused is None or isinstance(focused, (Input, TextArea)):
        return None
    for node in focused.ancestors_with_self:
        if not isinstance(node, Widget) or node is focused.screen:
            return None
        if hasattr(node, "action_cursor_down") or node.allow_vertical_scroll:
            return node
    return None


class NavigationKeys(DOMNode):
    """Mixed into a screen: the navigation keys, acting on what has focus."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "nav('down')", "Down", show=False, id="nav.down"),
        Binding("k", "nav('up')", "Up", show=False, id="nav.up"),
        Binding("g", "nav('first')", "First line", show=False, id="nav.first"),
        Binding("G", "nav('last')", "Last line", show=False, id="nav.last"),
        Binding("ctrl+f", "nav('page_down')", "Page down", show=False, id="nav.page_down"),
        Binding("ctrl+b", "nav('page_up')", "Page up", show=False, id="nav.page_up"),
        # before the focused widget: a table's own Home and End only scroll it sideways
        Binding("home", "nav('first')", "First line", show=False, priority=True, id="nav.home"),
        Binding("end", "nav('last')", "Last line", show=False, priority=True, id="nav.end"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The navigation keys are active only while something they can move has focus."""
        if action == "nav":
            return nav_target(self.focused) is not None  # type: ignore[attr-defined]
        return True

    def action_nav(self, move: str) -> None:
        """Move the focused list's cursor (or scroll the focused panel): `move` is a MOVES key."""
        target = nav_target(self.focused)  # type: ignore[attr-defined]
        if target is None:
            raise SkipAction()
        for name in MOVES[move]:
            method = getattr(target, f"action_{name}", None)
            if callable(method):
                method()
                return
        raise SkipAction()
