"""Nothing is lost: a bug in a handler, an action or a render is shown and logged, the app goes on."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from conftest import screen_text, wait_for
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

import tui.app
from tui.app import PtmApp
from tui.guard import SafeRender, log_path, where_of
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


@pytest.mark.reports_errors
async def test_a_failing_action_handler_and_render_keep_the_app_running():
    app = BuggyApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BuggyScreen))
        screen = app.screen
        await pilot.press("x")
        await pilot.pause()
        assert "division by zero in an action" in _toasts(app)
        assert "the x key failed" in [n.title for n in app._notifications]
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


async def _explorer(pilot):
    from tui.screens.explore.explorer import ExplorerScreen
    from tui.widgets.layer_tree import LayerTree

    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ExplorerScreen) and app.screen.query_one(LayerTree).model is not None,
    )
    await pilot.pause()
    return app.screen


async def test_q_with_unsaved_edits_asks_and_the_edits_are_autosaved(resnet18_workbench):
    from engine.edit.autosave import autosaved
    from tui.screens.edit.unsaved import UnsavedDialog

    bench = resnet18_workbench
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        explorer = await _explorer(pilot)
        await pilot.press("j", "space")  # freeze conv1: one edit
        assert bench.edits == [{"op": "freeze", "target": "conv1"}]
        assert autosaved("resnet18", "none").edits == bench.edits  # on disk already
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        assert "resnet18 has 1 edit that no saved recipe" in screen_text(app)
        await pilot.press("n")  # cancel: still here, edits intact
        await wait_for(pilot, lambda: app.screen is explorer)
        assert app.is_running and len(bench.edits) == 1
        await pilot.press("ctrl+q")  # the same question
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("y")  # quit anyway
        await wait_for(pilot, lambda: not app.is_running)
    assert autosaved("resnet18", "none").edits == bench.edits  # still offered next time


async def test_saving_the_recipe_from_the_question_then_quits(resnet18_workbench, tmp_path, monkeypatch):
    from engine.edit.recipe import load
    from tui.screens.edit.unsaved import UnsavedDialog
    from tui.screens.edit.weights_dialogs import SaveDialog

    monkeypatch.chdir(tmp_path)
    bench = resnet18_workbench
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _explorer(pilot)
        await pilot.press("j", "space")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveDialog))
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running)
    assert load(tmp_path / "resnet18.toml").edits == [{"op": "freeze", "target": "conv1"}]


async def test_q_without_edits_quits_at_once_and_ctrl_c_says_how_to_quit(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _explorer(pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert "press q or ctrl+q to quit" in _toasts(app)
        assert "[b]" not in screen_text(app)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_opening_the_same_model_again_offers_the_autosaved_edits():
    from conftest import make_workbench

    from engine.edit.autosave import autosave, autosaved
    from tui.screens.edit.unsaved import RestoreDialog

    before = make_workbench("resnet18")
    before.apply({"op": "freeze", "target": "layer1"})
    before.apply({"op": "replace_head", "num_classes": 4})
    autosave(before.recipe())  # what the explorer wrote before the connection dropped

    bench = make_workbench("resnet18")
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RestoreDialog))
        assert "Restore 2 edits" in screen_text(app)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(bench.edits) == 2 and not app.screen.applying)
        assert bench.edits == before.edits
        assert bench.model.fc.out_features == 4
        await pilot.pause()
        assert "2 edits" in screen_text(app).splitlines()[0]
        await pilot.press("u")  # one by one
        await pilot.pause()
        assert bench.model.fc.out_features == 1000

    fresh = make_workbench("resnet18")
    app = PtmApp(workbench=fresh)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RestoreDialog))
        await pilot.press("f")  # start fresh: the autosave is gone
        await pilot.pause()
        assert fresh.edits == [] and autosaved("resnet18", "none") is None


def test_restore_flag_opens_the_newest_autosaved_model_or_says_there_is_none():
    import subprocess
    import sys

    from conftest import make_workbench

    from engine.edit.autosave import autosave
    from tui.app import restore_target
    from tui.cli.main import build_tui_parser

    args = build_tui_parser().parse_args(["--restore"])
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "--restore"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "no autosaved edits to restore" in done.stderr
    bench = make_workbench("resnet18")
    bench.apply({"op": "freeze", "target": "layer1"})
    autosave(bench.recipe())
    restore_target(args)
    assert (args.model, args.weights) == ("resnet18", "none")


class FiguresRead(Message):
    """A worker's result, named as Textual names messages (CamelCase)."""


def test_a_failed_handlers_toast_names_its_message_in_words():
    assert where_of(FiguresRead()) == "figures read"  # the toast's title: "figures read failed"


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_the_quit_question_shows_every_answer_and_its_key_at_80_and_60_columns(size):
    from conftest import ScreenApp

    from tui.screens.edit.unsaved import UnsavedDialog

    app = ScreenApp(UnsavedDialog("resnet18", 3))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        text = screen_text(app)
        for _, label, _ in UnsavedDialog.ANSWERS:
            assert label in text, text  # "Quit anyway (y)" was cut to "Quit anyway" at 80 columns
