"""The surgery dialogs, driven with a real Textual Pilot on a real workbench."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from conftest import wait_for
from textual.app import App
from textual.widgets import DataTable, Static

from engine.edit.workbench import Workbench
from tui.screens.edit.layer_dialogs import DeleteDialog, HeadDialog, InputChannelsDialog, ModuleDialog
from tui.screens.edit.weights_dialogs import LoadWeightsDialog, SaveDialog
from tui.widgets.edit_history import EditHistory

UNSET = object()


class DialogApp(App):
    """A bare app that opens one dialog and keeps what it returned."""

    def __init__(self, dialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.result = UNSET

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self._done)

    def _done(self, result) -> None:
        self.result = result


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


@pytest.fixture
def bench(resnet) -> Workbench:
    return Workbench(model=copy.deepcopy(resnet), name="resnet18", input_size=(1, 3, 64, 64))


def _preview(app: App) -> str:
    return str(app.screen.query_one("#preview", Static).render())


async def test_replace_previews_module_and_shapes_then_returns_the_edit(bench):
    app = DialogApp(ModuleDialog(bench, "replace", "fc"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"Linear(512, 7)")
        await wait_for(pilot, lambda: "shapes fit" in _preview(app))
        text = _preview(app)
        assert "Linear(in_features=512, out_features=7" in text and "3,591 parameters" in text
        assert "[1, 3, 64, 64] -> [1, 7]" in text
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == {"op": "replace", "target": "fc", "module": "Linear(512, 7)"}
    assert bench.model.fc.out_features == 1000  # the dialog itself changes nothing


async def test_a_break_is_shown_in_red_and_enter_keeps_the_dialog_open(bench):
    app = DialogApp(ModuleDialog(bench, "insert_after", "fc"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"Linear(10, 10)")
        await wait_for(pilot, lambda: "shapes break" in _preview(app))
        assert "'fc.1'" in _preview(app) and "[1, 1000]" in _preview(app)
        assert app.screen.query_one("#preview").has_class("-bad")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ModuleDialog) and app.result is UNSET
        await pilot.press("escape")
        await pilot.pause()
    assert app.result is None


async def test_unsafe_expressions_are_refused_in_the_preview(bench):
    app = DialogApp(ModuleDialog(bench, "replace", "fc"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"__import__('os')")
        await wait_for(pilot, lambda: "__import__" in _preview(app))
        assert "not an allowed torch.nn class" in _preview(app)


async def test_delete_confirms_with_y(bench):
    app = DialogApp(DeleteDialog(bench, "layer1.0.relu"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "shapes fit" in _preview(app))
        assert "replaced by Identity" in str(app.screen.query(Static)[2].render())
        await pilot.press("y")
        await pilot.pause()
    assert app.result == {"op": "delete", "target": "layer1.0.relu"}


async def test_head_dialog_checks_the_number_and_returns_the_edit(bench):
    app = DialogApp(HeadDialog(bench))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"ten")
        await wait_for(pilot, lambda: "whole number" in _preview(app))
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press("1", "2")
        await wait_for(pilot, lambda: "shapes fit" in _preview(app))
        assert "-> [1, 12]" in _preview(app)
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == {"op": "replace_head", "num_classes": 12, "target": "fc"}
    bench.apply(app.result)
    assert bench.model.fc.out_features == 12


async def test_input_channels_dialog(bench):
    app = DialogApp(InputChannelsDialog(bench))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: "shapes fit" in _preview(app))
        assert "[1, 4, 64, 64]" in _preview(app)
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == {"op": "adapt_input", "channels": 4, "strategy": "repeat"}


async def test_load_weights_shows_the_report_table_and_is_undoable(bench, tmp_path):
    from engine.edit.save import save_weights

    torch.manual_seed(5)
    donor = torchvision.models.resnet18(num_classes=3)
    save_weights(donor, tmp_path / "donor.pth")
    app = DialogApp(LoadWeightsDialog(bench))
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press(*str(tmp_path / "donor.pth"), "enter")
        await wait_for(pilot, lambda: "loaded" in _preview(app))
        keys = len(donor.state_dict())
        assert f"loaded {keys - 2} tensors" in _preview(app)
        assert "2 shape-mismatched" in _preview(app)
        table = app.screen.query_one("#report", DataTable)
        assert table.row_count == keys
        assert table.get_row_at(0)[0] == "mismatched" and table.get_row_at(0)[2] == "3x512"
        await pilot.press("escape")
        await pilot.pause()
    assert app.result["op"] == "load_partial"
    assert torch.equal(bench.model.conv1.weight, donor.conv1.weight)
    bench.undo()
    assert not torch.equal(bench.model.conv1.weight, donor.conv1.weight)


async def test_load_weights_refusal_keeps_the_model(bench, tmp_path):
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "x.pth")
    app = DialogApp(LoadWeightsDialog(bench))
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press(*str(tmp_path / "x.pth"), "enter")
        await wait_for(pilot, lambda: "nothing in" in _preview(app))
        assert app.screen.query_one("#report", DataTable).get_row_at(0)[0] == "missing"
        await pilot.press("escape")
        await pilot.pause()
    assert app.result is None and bench.edits == []


@pytest.mark.parametrize(("what", "name"), [("weights", "w.safetensors"), ("recipe", "r.toml")])
async def test_save_dialog_writes_the_file(bench, tmp_path, what, name):
    bench.apply({"op": "replace_head", "num_classes": 2})
    app = DialogApp(SaveDialog(bench, what, path=str(tmp_path / name)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.result is not UNSET)
    assert app.result == tmp_path / name and (tmp_path / name).is_file()
    if what == "recipe":
        from engine.edit.recipe import load

        assert load(tmp_path / name).edits == [{"op": "replace_head", "num_classes": 2}]


class HistoryApp(App):
    def __init__(self, bench) -> None:
        super().__init__()
        self.bench = bench

    def compose(self):
        yield EditHistory(self.bench)


async def test_edit_history_follows_edits_and_undo(bench):
    app = HistoryApp(bench)
    async with app.run_test(size=(80, 20)) as pilot:
        panel = app.query_one(EditHistory)
        assert "no edits yet" in str(panel.text)
        bench.apply({"op": "replace_head", "num_classes": 4})
        bench.apply({"op": "freeze", "target": "layer1"})
        await pilot.pause(0.4)
        text = str(panel.text)
        assert "1. replace_head" in text and "2. freeze" in text and "froze layer1" in text
        bench.undo()
        await pilot.pause(0.4)
        text = str(panel.text)
        assert "freeze" not in text and "1 undone" in text


async def test_explorer_keys_open_the_dialogs_and_the_tree_follows(resnet18_workbench):
    from conftest import screen_text
    from textual.widgets import Input

    from tui.app import PtmApp
    from tui.screens.explore.explorer import ExplorerScreen
    from tui.widgets.layer_tree import LayerTree

    bench = resnet18_workbench
    bench.input_size = (1, 3, 64, 64)
    app = PtmApp(workbench=bench)
    async with app.run_test(size=(110, 32), notifications=True) as pilot:
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ExplorerScreen)
                and app.screen.query_one(LayerTree).model is not None
            ),
        )
        explorer = app.screen
        await pilot.press("G")
        assert explorer.current_path == "fc"
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ModuleDialog))
        box = app.screen.query_one("#module", Input)
        assert box.value == "Linear(in_features=512, out_features=1000, bias=True)"
        box.value = "Linear(512, 3)"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is explorer)
        # applied in a worker: the tree follows once it is done
        await wait_for(pilot, lambda: bench.model.fc.out_features == 3 and not explorer.applying)
        await wait_for(pilot, lambda: "1 edit" in screen_text(app).splitlines()[0])
        await pilot.press("e")
        await wait_for(pilot, lambda: "1. replace" in screen_text(app))
        await pilot.press("u")
        assert bench.model.fc.out_features == 1000
        await wait_for(pilot, lambda: "no edits yet" in screen_text(app))
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HeadDialog))
        await pilot.press("5", "enter")
        await wait_for(pilot, lambda: app.screen is explorer and bench.edits[-1:] != []
                       and bench.edits[-1]["op"] == "replace_head" and not explorer.applying)
        assert bench.model.fc.out_features == 5 and bench.edits[-1]["op"] == "replace_head"
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is explorer and len(bench.edits) == 2
                       and not explorer.applying)
        assert type(bench.model.fc).__name__ == "Identity"
        await wait_for(pilot, lambda: "2. delete" in screen_text(app))


async def test_edit_history_marks_edits_whose_undo_copy_was_let_go(bench):
    bench.undo_budget = 0  # only the newest edit keeps its copy
    layer4 = sum(t.numel() * t.element_size() for t in bench.model.layer4.state_dict().values())
    app = HistoryApp(bench)
    async with app.run_test(size=(100, 20)) as pilot:
        bench.apply({"op": "init", "target": "layer4", "method": "ones"})
        bench.apply({"op": "init", "target": "layer4", "method": "zeros"})
        await pilot.pause(0.4)
        lines = str(app.query_one(EditHistory).text).splitlines()
        assert "(no undo)" in lines[0] and "(no undo)" not in lines[1]
        assert f"undo copies hold {layer4 / 2**20:.1f} MB" in lines[-1]
