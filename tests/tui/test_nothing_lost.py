"""Nothing is lost: a bug in a handler, an action or a render is shown and logged, the app goes on."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from conftest import screen_text, wait_for
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

import tui.app
from tui.app import PtmApp
from tui.guard import SafeRender, log_path
from tui.screens.base import PtmScreen

SIZE = (100, 30)


class Broken(Message):
    """A message whose handler has a bug."""


class BadRender(SafeRender, Static):
    """A widget whose render has a bug once `broken` is set (as plotext's log scale had)."""

    broken = False

    def render(self):
        if self.broken:
            raise TypeError("'NoneType' object is not iterable")
        return "fine"


class BuggyScreen(PtmScreen):
    """A screen with a buggy action, a buggy message handler and a buggy widget."""

    BINDINGS: ClassVar = [Binding("x", "explode", "Explode"), Binding("c", "count", "Count")]

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def compose(self) -> ComposeResult:
        yield Static("still here", id="alive")
        yield BadRender(id="bad")

    def action_explode(self) -> None:
        raise ZeroDivisionError("division by zero in an action")

    def action_count(self) -> None:
        self.count += 1
        self.query_one("#alive", Static).update(f"counted {self.count}")

    def on_broken(self, _: Broken) -> None:
        raise KeyError("a handler bug")


class BuggyApp(PtmApp):
    CSS_PATH = str(Path(tui.app.__file__).with_name("app.tcss"))

    def on_mount(self, event) -> None:
        event.prevent_default()  # not the catalog: the buggy screen
        self.push_screen(BuggyScreen())


def _toasts(app) -> str:
    return " | ".join(str(n.message) for n in app._notifications)


async def test_a_failing_action_handler_and_render_keep_the_app_running():
    app = BuggyApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BuggyScreen))
        screen = app.screen
        await pilot.press("x")
        await pilot.pause()
        assert "division by zero in an action" in _toasts(app)
        screen.post_message(Broken())
        await pilot.pause()
        assert "a handler bug" in _toasts(app)
        bad = screen.query_one(BadRender)
        bad.broken = True
        bad.refresh()
        await pilot.pause(0.2)
        assert "'NoneType' object is not iterable" in _toasts(app)
        await pilot.press("c", "c")  # the screen still answers keys and messages
        await pilot.pause()
        assert screen.count == 2
        text = screen_text(app)
        assert "counted 2" in text
        assert "could not draw this: TypeError: 'NoneType' object is not iterable" in text
        assert app.is_running and app.return_code is None
        log = log_path().read_text()
        assert "ZeroDivisionError" in log and "KeyError" in log and "TypeError" in log
        assert "details in" in _toasts(app)
    assert [type(e) for e in app.error_reporter.errors][:2] == [ZeroDivisionError, KeyError]
