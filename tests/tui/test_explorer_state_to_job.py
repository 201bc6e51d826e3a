"""What the explorer shows reaches the recipe and the job: b (frozen BatchNorm in eval mode)."""

from __future__ import annotations

from conftest import wait_for
from textual.widgets import Input

from engine.edit.autosave import autosaved
from engine.edit.recipe import load
from engine.jobs.launch import create_job
from tui.app import PtmApp
from tui.screens.edit.weights_dialogs import SaveDialog
from tui.screens.explore.explorer import ExplorerScreen
from tui.screens.train.launch import LaunchScreen
from tui.widgets.layer_tree import LayerTree

SIZE = (110, 32)


async def test_b_off_goes_into_the_recipe_the_autosave_and_the_job_spec(
        resnet18_workbench, home, digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bench = resnet18_workbench
    bench.apply({"op": "replace_head", "num_classes": 10})  # digits has 10 classes
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.query_one(LayerTree).model is not None)
        explorer = app.screen
        explorer.query_one(LayerTree).select_path("layer1")
        await pilot.press("space", "b")  # freeze layer1; frozen BN back in train mode
        assert not explorer.frozen_bn_eval
        assert autosaved("resnet18", "none").train == {"freeze_bn": False}
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveDialog))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is explorer)
        assert load(tmp_path / "resnet18.toml").train == {"freeze_bn": False}
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        form = app.screen
        form.query_one("#launch-data", Input).value = str(digits)
        await pilot.pause()
        assert "frozen BatchNorm in eval mode: off" in str(form.query_one("#launch-summary").render())
        assert form.table is not None and form.table["freeze_bn"] is False
    job = create_job({**bench.recipe(), "train": form.table})  # what Launch hands over
    assert load(job / "spec.toml").train["freeze_bn"] is False


async def test_p_after_c_to_one_channel_predicts(tmp_path):
    import numpy as np
    from conftest import ScreenApp, make_workbench, screen_text
    from PIL import Image

    from tui.screens.use.predict import PredictScreen

    bench = make_workbench("resnet18")
    bench.input_size = (1, 3, 64, 64)
    bench.apply({"op": "adapt_input", "channels": 1, "strategy": "sum"})  # what C does
    path = tmp_path / "colour.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(path)
    screen = PredictScreen(bench, image="", topk=3)
    app = ScreenApp(screen)
    async with app.run_test(size=(100, 34)) as pilot:
        field = screen.query_one("#predict-path", Input)
        field.value = str(path)
        field.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.result is not None
                       or "channels" in screen_text(app), timeout=60)
        assert screen.result is not None and len(screen.result["top"]) == 3
        assert "expected input" not in screen_text(app)
