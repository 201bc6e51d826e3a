"""After an edit, undo or redo the tree's cursor is on the layer that changed, and folds stay."""

from __future__ import annotations

from conftest import wait_for
from textual.widgets import Input

from tui.app import PtmApp
from tui.screens.edit.layer_dialogs import DeleteDialog, HeadDialog, ModuleDialog
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree

SIZE = (110, 32)


async def _explorer(pilot) -> tuple[ExplorerScreen, LayerTree]:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ExplorerScreen) and app.screen.query_one(LayerTree).model is not None,
    )
    return app.screen, app.screen.query_one(LayerTree)


async def _replace_with(pilot, explorer, key: str, text: str, edits: int) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ModuleDialog))
    pilot.app.screen.query_one("#module", Input).value = text
    await pilot.press("enter")
    await wait_for(
        pilot,
        lambda: (
            pilot.app.screen is explorer and not explorer.applying and len(explorer.workbench.edits) == edits
        ),
    )
    await pilot.pause()


async def test_replace_keeps_the_cursor_on_the_replacement_and_closed_blocks_closed(resnet18_workbench):
    bench = resnet18_workbench
    bench.input_size = (1, 3, 64, 64)
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        explorer, tree = await _explorer(pilot)
        tree.select_path("layer1.1.conv2")  # what `/layer1.1.conv2` does
        tree.select_path("layer2.0.conv2")
        tree.select_path("layer1")
        await pilot.press("h")  # collapse layer1
        assert not tree.nodes_by_path["layer1"].is_expanded
        await pilot.press("G")
        assert explorer.current_path == "fc"
        await _replace_with(pilot, explorer, "r", "Sequential(Dropout(p=0.3), Linear(512, 10))", 1)
        assert explorer.current_path == "fc"
        assert not tree.nodes_by_path["layer1"].is_expanded
        assert tree.nodes_by_path["layer2"].is_expanded and tree.nodes_by_path["layer2.0"].is_expanded
        assert tree.nodes_by_path["layer1.1"].is_expanded  # still open inside the closed layer1
        await pilot.press("x")  # acts on fc, not on a layer the cursor drifted to
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteDialog))
        assert app.screen.target == "fc"
        await pilot.press("escape")


async def test_insert_delete_head_undo_and_redo_put_the_cursor_on_the_changed_layer(resnet18_workbench):
    bench = resnet18_workbench
    bench.input_size = (1, 3, 64, 64)
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        explorer, tree = await _explorer(pilot)
        tree.select_path("layer1.0.relu")
        await _replace_with(pilot, explorer, "o", "Dropout(p=0.1)", 1)
        assert explorer.current_path == "layer1.0.relu.1"  # the inserted module
        assert type(bench.module(explorer.current_path)).__name__ == "Dropout"
        await pilot.press("u")
        await pilot.pause()
        assert explorer.current_path == "layer1.0.relu"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert explorer.current_path == "layer1.0.relu.1"
        tree.select_path("conv1")
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HeadDialog))
        await pilot.press("5", "enter")
        await wait_for(
            pilot, lambda: app.screen is explorer and not explorer.applying and len(bench.edits) == 2
        )
        await pilot.pause()
        assert explorer.current_path == "fc"
        tree.select_path("layer4.1.bn2")
        await pilot.press("u")  # undo the head: the cursor goes to the head again
        await pilot.pause()
        assert explorer.current_path == "fc"
