"""One keyboard model (issue 19): j k g G ctrl+f ctrl+b Home End move in every list, table, tree
and panel; a text field gets keys only while it has focus; Tab reaches every panel; `?` lists
the keys the screen really has; y copies the layer's path."""

from __future__ import annotations

import pytest
from conftest import make_workbench, screen_text, wait_for
from textual.widgets import DataTable, Input

from tui.app import PtmApp
from tui.screens.catalog.catalog import CatalogScreen
from tui.screens.explore.explorer import ExplorerScreen
from tui.screens.help import HelpScreen
from tui.widgets.edit_history import EditHistory
from tui.widgets.layer_panel import LayerPanel
from tui.widgets.layer_tree import LayerTree

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_thread")]


async def _explorer(pilot) -> ExplorerScreen:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, ExplorerScreen)
            and app.screen.workbench is not None
            and app.screen.query_one(LayerTree).model is not None
        ),
    )
    await pilot.pause(0.2)
    return app.screen


def _app() -> PtmApp:
    wb = make_workbench("resnet18")
    wb.model.eval()
    wb.input_size = (1, 3, 224, 224)
    return PtmApp(workbench=wb)


async def test_summary_table_moves_with_j_k_g_G_home_end_and_pages():
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _explorer(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SummaryScreen", timeout=60)
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 20)
        last = table.row_count - 1
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == last
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == last
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("ctrl+f")
        assert table.cursor_row > 5
        await pilot.press("ctrl+b")
        assert table.cursor_row == 0


async def test_catalog_list_takes_its_keys_and_the_filter_only_typing_while_focused():
    app = PtmApp(weights="none")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogScreen) and app.screen.models)
        screen = app.screen
        table = screen.query_one(DataTable)
        box = screen.query_one("#filter", Input)
        await pilot.press(*"res")  # the filter has focus: letters are typed
        assert box.value == "res"
        await pilot.press("tab")
        assert screen.focused is table
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1 and box.value == "res"
        await pilot.press("k")
        assert table.cursor_row == table.row_count - 2 and box.value == "res"
        await pilot.press("g", "j")
        assert table.cursor_row == 1 and box.value == "res"
        await pilot.press("slash", "n")  # / goes back to the filter, which types again
        assert box.value == "resn"


async def test_tab_reaches_the_stats_panel_and_the_edit_history_and_both_scroll():
    wb = make_workbench("resnet18")
    for index in range(12):
        wb.apply({"op": "freeze" if index % 2 == 0 else "unfreeze", "target": "layer1"})
    app = PtmApp(workbench=wb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _explorer(pilot)
        tree = screen.query_one(LayerTree)
        tree.select_path("layer4.0.conv1")
        panel = screen.query_one(LayerPanel)
        await wait_for(pilot, lambda: getattr(panel.data, "path", None) == "layer4.0.conv1")
        await pilot.press("e")
        history = screen.query_one(EditHistory)
        focused = []
        for _ in range(3):
            await pilot.press("tab")
            focused.append(screen.focused)
        assert panel in focused and history in focused
        panel.focus()
        await pilot.pause(0.2)
        assert panel.max_scroll_y > 0  # at 80x24 the histogram and its summary are below
        await pilot.press("G")
        await pilot.pause(0.1)
        assert panel.scroll_y == panel.max_scroll_y
        assert "press s for output" in screen_text(app)
        await pilot.press("g")
        await pilot.pause(0.1)
        assert panel.scroll_y == 0
        assert tree.cursor_path == "layer4.0.conv1"  # the tree's cursor stayed put
        history.focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: " 1. freeze" in screen_text(app))
        await pilot.press("G")
        await wait_for(pilot, lambda: "12. unfreeze" in screen_text(app))


async def test_y_copies_the_layer_path():
    app = PtmApp(workbench=make_workbench("resnet18"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _explorer(pilot)
        screen.query_one(LayerTree).select_path("layer2.1.conv2")
        await pilot.pause(0.1)
        await pilot.press("y")
        assert app.clipboard == "layer2.1.conv2"


async def _listed_keys_all_act(app: PtmApp) -> list[str]:
    """Open the help on the current screen; return its keys after checking each one acts."""
    under = app.screen
    help_screen = HelpScreen(under)
    keys = []
    for row in help_screen.rows:
        for key in row.keys:
            active = under.active_bindings.get(key)
            assert active is not None and active.binding.action == row.action, (key, row)
            if row.enabled:
                target, name, params = app._parse_action(row.action, active.node)
                assert callable(getattr(target, f"action_{name}", None)), (key, row)
                assert target.check_action(name, params), (key, row)
            keys.append(key)
    return keys


async def test_help_lists_only_keys_the_screen_has_and_each_acts():
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _explorer(pilot)
        keys = await _listed_keys_all_act(app)
        assert {"j", "k", "g", "G", "ctrl+f", "ctrl+b", "home", "end", "y", "space"} <= set(keys)
        await pilot.press("J")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "JobsScreen")
        await pilot.pause(0.2)
        keys = await _listed_keys_all_act(app)
        assert "h" not in keys and {"l", "j", "k", "g", "G"} <= set(keys)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "ptm-tui keys: jobs" in text and "Layers" in text
        assert "open a node" not in text and "Close/parent" not in text
        await pilot.press("escape", "escape", "s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SummaryScreen", timeout=60)
        await pilot.pause(0.2)
        keys = await _listed_keys_all_act(app)
        assert {"j", "k", "g", "G", "home", "end"} <= set(keys)


async def test_a_path_field_completes_with_tab_and_tab_moves_on_when_nothing_matches(tmp_path):
    from textual.app import App
    from textual.widgets import Button

    from tui.widgets.path_input import PathInput

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "old_resnet.pth").write_bytes(b"")
    (tmp_path / "weights" / "old_vit.pth").write_bytes(b"")
    (tmp_path / "work.toml").write_text("")

    class Form(App):
        def compose(self):
            yield PathInput(str(tmp_path / "we"), id="path")
            yield Button("ok")

    app = Form()
    async with app.run_test(size=(100, 10)) as pilot:
        box = app.query_one(PathInput)
        box.focus()
        box.cursor_position = len(box.value)
        await pilot.press("tab")  # only "weights/" starts with "we" (work.toml does not)
        assert box.value == f"{tmp_path}/weights/"
        await pilot.press("o", "tab")  # two names: as far as they agree
        assert box.value == f"{tmp_path}/weights/old_"
        await pilot.press("v", "tab")
        assert box.value == f"{tmp_path}/weights/old_vit.pth" and app.focused is box
        await pilot.press("tab")  # nothing left to complete: Tab moves on
        assert isinstance(app.focused, Button)


async def test_tab_after_a_whole_path_moves_on_and_leaves_the_path_as_typed(tmp_path):
    from textual.app import App
    from textual.widgets import Button

    from tui.widgets.path_input import PathInput

    for name in ("digit_0", "digit_1"):
        (tmp_path / "digits" / name).mkdir(parents=True)
    (tmp_path / "labels.csv").write_text("")

    class Form(App):
        def compose(self):
            yield PathInput(id="path")
            yield Button("ok")

    for typed in (f"{tmp_path}/digits", f"{tmp_path}/digits/", f"{tmp_path}/labels.csv"):
        app = Form()
        async with app.run_test(size=(100, 10)) as pilot:
            box = app.query_one(PathInput)
            box.focus()
            await pilot.press(*typed)
            await pilot.press("tab")  # the data folder is typed: Tab goes to the next field
            # it became ".../digits/digit_" (the start its folders share): a path that is not there
            assert box.value == typed and isinstance(app.focused, Button)
