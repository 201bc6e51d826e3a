"""Keys are remapped by binding id from the user's keymap file, and a bad file is reported."""

from __future__ import annotations

import re

import pytest
from conftest import screen_text, wait_for

from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree


async def _ready(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                   and app.screen.query_one(LayerTree).model is not None)
    await pilot.pause()


async def test_a_remapped_key_freezes_and_the_old_key_does_not(tmp_path, monkeypatch,
                                                                resnet18_workbench):
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"explorer.freeze" = "z"\n', encoding="utf-8")
    monkeypatch.setenv("PTM_KEYMAP", str(keys))
    wb = resnet18_workbench
    app = PtmApp(workbench=wb)
    async with app.run_test(size=(200, 80)) as pilot:  # big: the key bar and help show every key
        await _ready(pilot)
        await pilot.press("j")  # conv1
        await pilot.press("space")
        assert wb.edits == []
        await pilot.press("z")
        assert wb.edits == [{"op": "freeze", "target": "conv1"}]
        await pilot.pause()
        assert "z Freeze" in screen_text(app)
        await pilot.press("question_mark")
        await pilot.pause()
        rows = re.findall(r"│ (\S+) +Freeze +explorer\.freeze ", screen_text(app))
        assert rows == ["z"]  # the help shows the key in force and the id to remap it


@pytest.mark.parametrize("text", ["[keys\nexplorer.freeze = z\n", "x = " + "[" * 5000 + "]" * 5000])
async def test_a_broken_keymap_file_is_reported_and_the_app_runs(tmp_path, monkeypatch,
                                                                  resnet18_workbench, text):
    keys = tmp_path / "keys.toml"
    keys.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PTM_KEYMAP", str(keys))
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await _ready(pilot)
        assert any("keymap" in n.message and "was not read" in n.message
                   for n in app._notifications)
        await pilot.press("j", "space")
        assert resnet18_workbench.edits == [{"op": "freeze", "target": "conv1"}]


async def test_an_unknown_key_id_is_named_at_start_up(tmp_path, monkeypatch, resnet18_workbench):
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"explorer.frezee" = "z"\n"explorer.summary" = "y"\n', encoding="utf-8")
    monkeypatch.setenv("PTM_KEYMAP", str(keys))
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _ready(pilot)
        await wait_for(pilot, lambda: app._notifications)
        [note] = [n.message for n in app._notifications]
        assert "explorer.frezee is not a key id" in note and "ignored" in note
        assert "explorer.summary" not in note  # a real id is not reported


async def test_a_remapped_key_is_shown_in_the_footer_at_80_columns(tmp_path, monkeypatch,
                                                                   resnet18_workbench):
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"explorer.summary" = "y"\n"app.help" = "f2"\n', encoding="utf-8")
    monkeypatch.setenv("PTM_KEYMAP", str(keys))
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "y Summary" in footer and "s Summary" not in footer
        assert "f2 help" in footer and "? help" not in footer
