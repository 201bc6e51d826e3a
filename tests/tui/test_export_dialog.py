"""X in the explorer: the model as it is now (edits included) written as ONNX and checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import wait_for
from textual.widgets import Input, Static

from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree

SIZE = (80, 24)


def _preview(app) -> str:
    return str(app.screen.query_one("#preview", Static).render())


async def test_x_exports_the_edited_model_to_onnx_and_onnxruntime_agrees(resnet18_workbench, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from tui.screens.use.export_dialog import ExportDialog

    bench = resnet18_workbench
    assert bench.apply({"op": "replace_head", "num_classes": 3})
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.query_one(LayerTree).model is not None, timeout=60)
        screen = app.screen
        commands = [command.title for command in app.get_system_commands(screen)]
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        app.screen.query_one("#path", Input).value = str(tmp_path / "model.txt")
        await pilot.press("enter")  # a suffix no format writes: said in the dialog, nothing written
        await wait_for(pilot, lambda: ".onnx" in _preview(app))
        assert not list(tmp_path.iterdir())
        app.screen.query_one("#path", Input).value = str(tmp_path / "model.onnx")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "wrote" in _preview(app) or "fail" in _preview(app),
                       timeout=240)
        assert f"wrote {tmp_path / 'model.onnx'}" in _preview(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
    assert any(title.startswith("Export model (X)") for title in commands)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    x = torch.randn(2, 3, 224, 224)
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = bench.model.eval()(x).numpy()
    assert got.shape == (2, 3) and np.abs(got - want).max() < 1e-4


async def test_escape_while_the_file_is_written_closes_once_it_is(resnet18_workbench, tmp_path):
    from tui.screens.use.export_dialog import ExportDialog

    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.query_one(LayerTree).model is not None, timeout=60)
        screen = app.screen
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        app.screen.query_one("#path", Input).value = str(tmp_path / "model.onnx")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "exporting as onnx" in _preview(app))
        await pilot.press("escape")  # the export takes seconds: escape comes first
        assert any("closes when it is" in n.message for n in app._notifications)
        await wait_for(pilot, lambda: app.screen is screen, timeout=240)  # no second escape
        assert (tmp_path / "model.onnx").is_file()
        assert app.is_running


async def test_x_offers_a_torch_export_archive_first_and_it_runs_like_the_model(resnet18_workbench,
                                                                               tmp_path, monkeypatch):
    from tui.screens.use.export_dialog import ExportDialog

    monkeypatch.chdir(tmp_path)
    bench = resnet18_workbench
    assert bench.apply({"op": "replace_head", "num_classes": 3})
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.query_one(LayerTree).model is not None, timeout=60)
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        assert app.screen.query_one("#path", Input).value == "resnet18.pt2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "wrote" in _preview(app) or "fail" in _preview(app),
                       timeout=240)
        assert f"wrote {tmp_path / 'resnet18.pt2'}" in _preview(app)
    program = torch.export.load(str(tmp_path / "resnet18.pt2"))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        got, want = program.module()(x), bench.model.eval()(x)
    assert got.shape == (1, 3) and float((got - want).abs().max()) < 1e-5
