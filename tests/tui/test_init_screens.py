"""The Init Lab, the initialise dialog and the activation-std plot, driven with Textual's Pilot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ScreenApp
from textual.app import App
from textual.widgets import DataTable, Input, Select, Static
from torchvision.models import resnet18

from engine.edit.init_methods import METHODS
from engine.edit.workbench import Workbench
from tui.screens.edit.init_dialog import InitDialog
from tui.screens.edit.init_lab import METHOD_NAMES, InitLabScreen, StdPlot
from tui.screens.explore.activation_std import ActivationStdScreen

SIZE = (120, 42)


pytestmark = pytest.mark.usefixtures("one_thread")




def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


async def _settle(app: App, pilot: Any, until: Any, timeout: float = 60) -> None:
    start = time.monotonic()
    while not until() and time.monotonic() - start < timeout:
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause(0.1)


def _notes(app: App) -> list[str]:
    return [n.message for n in app._notifications]


def test_the_form_offers_every_engine_method() -> None:
    assert list(METHOD_NAMES) == list(METHODS)


async def test_init_lab_runs_overlay_with_a_key_line_and_inf_marker() -> None:
    app = ScreenApp(InitLabScreen(depth=40, activation="none", init="normal", gain=""))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await _settle(app, pilot, lambda: screen.runs and screen.runs[-1].done)
        first = screen.runs[0]
        assert 25 <= first.first_nonfinite_layer <= 35
        assert len(first.stds) == first.first_nonfinite_layer
        screen.query_one("#lab-init", Select).value = "xavier_uniform"
        screen.query_one("#lab-activation", Select).value = "tanh"
        screen.query_one("#lab-gain", Input).value = "auto"
        await pilot.click("#lab-run")
        await _settle(app, pilot, lambda: len(screen.runs) == 2 and screen.runs[-1].done)
        assert len(screen.runs[1].stds) == 40 and screen.runs[1].first_nonfinite_layer is None
        plot = screen.query_one(StdPlot).render().plain.splitlines()
        key = plot[-1]  # a key line under the plot names each run; no legend over the curves
        assert key.startswith("key: ━normal() / none") and "━xavier_uniform(gain=1.67) / tanh" in key
        assert f"(inf @{first.first_nonfinite_layer})" in key
        assert not any("normal()" in row or "xavier" in row for row in plot[1:-1])
        status = str(screen.query_one("#lab-status", Static).render())
        assert "exploded" in status and "healthy" in status
        await pilot.press("ctrl+l")
        assert screen.runs == []


async def test_init_lab_plot_grows_while_a_run_is_computed() -> None:
    # deep enough that the run is still going whatever the machine's speed; escape cancels it
    app = ScreenApp(InitLabScreen(depth=20_000, width=512, batch=512, activation="tanh"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        start = time.monotonic()
        while len(screen.runs[0].stds) < 3 and time.monotonic() - start < 30:
            await pilot.pause(0.02)
        plot = screen.query_one(StdPlot)
        while (not plot.runs or len(plot.runs[0][1]) < 3) and time.monotonic() - start < 30:
            await pilot.pause(0.05)  # a redraw period or so
        shown = len(plot.runs[0][1])
        assert not screen.runs[0].done  # still computing...
        assert shown >= 3  # ...and the plot already shows the layers done so far
        assert "running: layer" in str(screen.query_one("#lab-status", Static).render())
        await pilot.press("escape")  # leaving cancels the run
        await app.workers.wait_for_complete()
        assert len(screen.runs[0].stds) < 20_000


async def test_init_lab_bad_form_values_are_refused_in_a_notification() -> None:
    app = ScreenApp(InitLabScreen())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#lab-init", Select).value = "kaiming_normal"
        screen.query_one("#lab-gain", Input).value = "2"
        await pilot.press("ctrl+r")
        screen.query_one("#lab-init", Select).value = "normal"
        screen.query_one("#lab-gain", Input).value = "auto"
        screen.query_one("#lab-params", Input).value = "sigma=3"
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        notes = _notes(app)
        assert any("kaiming_normal takes no gain" in n for n in notes)
        assert any("its parameters are: mean=0.0, std=1.0" in n for n in notes)
        assert screen.runs == []


async def test_init_dialog_applies_shows_after_stats_and_undoes_exactly() -> None:
    bench = Workbench(resnet18(), "resnet18")
    original = _state(bench.model)
    app = ScreenApp(InitDialog(bench, "layer1"))
    async with app.run_test(size=SIZE) as pilot:
        dialog = app.screen
        await pilot.pause(0.1)
        assert dialog.query_one("#init-type", Select).value == "Conv2d"
        await _settle(app, pilot, lambda: "before: 147,456 values" in
                      str(dialog.query_one("#init-stats", Static).render()))
        assert "before: 147,456 values" in str(dialog.query_one("#init-stats", Static).render())
        dialog.query_one("#init-method", Select).value = "normal"
        await pilot.pause(0.1)
        dialog.query_one("#param-std", Input).value = "0.5"
        await pilot.click("#init-apply")
        await _settle(app, pilot, lambda: dialog.applied == 1)
        assert bench.edits == [{"op": "init", "target": "layer1", "method": "normal",
                                "params": {"std": 0.5}, "what": "weight",
                                "layer_type": "Conv2d"}]
        stats = str(dialog.query_one("#init-stats", Static).render())
        assert "after:  147,456 values" in stats and "std 0.5" in stats
        assert abs(bench.model.layer1[0].conv1.weight.std().item() - 0.5) < 0.01
        await pilot.click("#init-undo")
        assert _same(bench.model, original) and bench.edits == []
        await pilot.click("#init-apply")
        await _settle(app, pilot, lambda: dialog.applied == 1)
        await pilot.press("escape")
        await pilot.pause(0.05)
    assert app.results == [1] and len(bench.edits) == 1
    bench.undo()
    assert _same(bench.model, original)


async def test_init_dialog_refusal_leaves_the_model_unchanged() -> None:
    bench = Workbench(resnet18(), "resnet18")
    original = _state(bench.model)
    app = ScreenApp(InitDialog(bench, "layer2"))
    async with app.run_test(size=SIZE) as pilot:
        dialog = app.screen
        dialog.query_one("#init-method", Select).value = "eye"
        await pilot.pause(0.1)
        await pilot.press("ctrl+s")
        await _settle(app, pilot, lambda: any("eye does not fit" in n for n in _notes(app)))
        assert any("eye does not fit layer2.0.conv1.weight" in n for n in _notes(app))
        assert dialog.applied == 0 and bench.edits == [] and _same(bench.model, original)


async def test_init_dialog_gain_for_and_preset() -> None:
    bench = Workbench(resnet18(), "resnet18")
    app = ScreenApp(InitDialog(bench, "fc", method="xavier_normal"))
    async with app.run_test(size=SIZE) as pilot:
        dialog = app.screen
        await pilot.pause(0.1)
        dialog.query_one("#gain-for", Select).value = "tanh"
        await pilot.pause(0.1)
        assert dialog.query_one("#param-gain", Input).value == "1.66667"
        dialog.query_one("#init-method", Select).value = "preset: common"
        await pilot.pause(0.1)
        await pilot.press("ctrl+s")
        await _settle(app, pilot, lambda: dialog.applied == 1)
        assert bench.edits[-1] == {"op": "init_preset", "target": "fc", "preset": "common"}
        assert torch.all(bench.model.fc.bias == 0)


async def test_activation_std_plot_lists_layers_and_overlays_before_and_after() -> None:
    bench = Workbench(resnet18(), "resnet18", input_size=(1, 3, 64, 64))
    app = ScreenApp(ActivationStdScreen(bench, batch_size=2))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await _settle(app, pilot, lambda: screen.query_one(DataTable).row_count > 0)
        table = screen.query_one(DataTable)
        assert table.row_count == 60  # resnet18's leaf layer calls (ReLUs run twice per block)
        assert table.get_row_at(0)[1] == "conv1" and table.get_row_at(59)[1] == "fc"
        bench.apply({"op": "init", "target": "fc", "method": "normal", "params": {"std": 1e38}})
        await pilot.press("r")
        await _settle(app, pilot, lambda: len(screen.query_one(StdPlot).runs) == 2)
        runs = screen.query_one(StdPlot).runs
        assert runs[0][0] == "as opened (random init)" and runs[0][2] is None
        assert runs[1][0].startswith("after 1 edit: initialised fc with normal")
        assert runs[1][2] == 59
        status = str(screen.query_one("#act-status", Static).render())
        assert "first non-finite: #59 fc" in status
        assert "inf @59" in screen.query_one(StdPlot).render().plain
        folder = Path(__file__).parent / "_no_such_folder_"
        screen.query_one("#act-images", Input).value = str(folder)
        await pilot.press("r")
        await _settle(app, pilot, lambda: any("no folder" in n for n in _notes(app)))
        assert any("no folder" in n for n in _notes(app))


async def test_explorer_keys_open_the_dialog_plot_and_lab_and_u_undoes_the_init() -> None:
    from tui.app import PtmApp
    from tui.screens.explore.explorer import ExplorerScreen

    bench = Workbench(resnet18(), "resnet18", input_size=(1, 3, 64, 64))
    original = _state(bench.model)
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot, lambda: isinstance(app.screen, ExplorerScreen)
                      and app.screen.current_path is not None)
        explorer = app.screen
        await pilot.press("i")
        await pilot.pause(0.1)
        dialog = app.screen
        assert isinstance(dialog, InitDialog) and dialog.path == explorer.current_path
        await pilot.press("ctrl+s")
        await _settle(app, pilot, lambda: dialog.applied == 1)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is explorer and bench.edits[-1]["op"] == "init"
        assert not _same(bench.model, original)
        await pilot.press("u")
        await pilot.pause(0.1)
        assert _same(bench.model, original) and bench.edits == []
        await pilot.press("A")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ActivationStdScreen)
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        await pilot.press("L")
        await pilot.pause(0.1)
        assert isinstance(app.screen, InitLabScreen)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is explorer


class HeldWorkbench(Workbench):
    """A Workbench whose edits wait for `go` first: an init that is surely still running."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import threading

        self.go = threading.Event()

    def apply(self, edit: Any, index: int | None = None) -> str:
        self.go.wait(timeout=60)
        return super().apply(edit, index)


async def test_the_init_dialog_stays_open_until_its_init_is_applied() -> None:
    bench = HeldWorkbench(torch.nn.Sequential(torch.nn.Linear(64, 64)), "small")
    app = ScreenApp(InitDialog(bench, ""))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        dialog = app.screen
        await pilot.pause(0.1)
        await pilot.press("ctrl+s", "escape")  # close while the init runs in its worker
        assert app.screen is dialog
        assert any("still being applied" in n for n in _notes(app))
        bench.go.set()
        await _settle(app, pilot, lambda: dialog.applied == 1)
        await pilot.press("escape")
        await pilot.pause(0.05)
    assert app.results == [1] and len(bench.edits) == 1
