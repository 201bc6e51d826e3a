"""The predict and activation-map screens driven with Pilot, and the explorer keys to them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import ScreenApp, make_workbench, screen_text, wait_for
from PIL import Image
from textual.app import App
from textual.widgets import Input

from tui.screens.use.actmap import ActmapScreen, PixelView, half_block_lines, ramp_lines
from tui.screens.use.predict import PredictScreen, bar_chart

SIZE = (100, 34)




@pytest.fixture(scope="module")
def workbench():
    wb = make_workbench("resnet18")
    wb.model.eval()
    return wb


@pytest.fixture
def image_path(tmp_path) -> str:
    yy, xx = np.mgrid[0:90, 0:120]
    pixels = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.uint8)
    path = tmp_path / "gradient.png"
    Image.fromarray(pixels).save(path)
    return str(path)


async def _type_path(pilot, selector: str, path: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.value = path
    field.focus()
    await pilot.press("enter")


async def test_predict_shows_topk_bars_with_category_names(workbench, image_path):
    screen = PredictScreen(workbench, image="", topk=5)
    app = ScreenApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await _type_path(pilot, "#predict-path", image_path)
        await wait_for(pilot, lambda: screen.result is not None, timeout=60)
        await pilot.pause()
        text = screen_text(app)
        top = screen.result["top"]
        assert len(top) == 5
        lines = text.splitlines()
        rows = [next(i for i, line in enumerate(lines)
                     if item["label"][:20] in line and f"{item['prob']:.2%}" in line)
                for item in top]
        assert rows == sorted(rows) and rows[-1] - rows[0] == 4  # one row each, best first
        assert "random weights" in text  # where the names came from
        await pilot.press("escape")
        assert not isinstance(app.screen, PredictScreen)


async def test_predict_bad_path_notifies_and_keeps_running(workbench, tmp_path):
    screen = PredictScreen(workbench, image="")
    app = ScreenApp(screen)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _type_path(pilot, "#predict-path", str(tmp_path / "missing.png"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "no image at" in screen_text(app)
        assert app.screen is screen


def test_bar_chart_lengths_follow_probabilities():
    top = [{"label": "cat", "index": 3, "prob": 0.5}, {"label": "dog", "index": 1, "prob": 0.25}]
    lines = bar_chart(top, width=40).plain.splitlines()
    assert lines[0].count("█") == 20 and lines[1].count("█") == 10
    assert "cat" in lines[0] and "50.00%" in lines[0] and "(3)" in lines[0]
    ascii_lines = bar_chart(top, ascii_only=True, width=40).plain.splitlines()
    assert ascii_lines[0].count("#") == 20 and "█" not in "".join(ascii_lines)


async def test_actmap_steps_through_layers_with_half_blocks(workbench, image_path):
    screen = ActmapScreen(workbench, image="")
    app = ScreenApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await _type_path(pilot, "#actmap-path", image_path)
        await wait_for(pilot, lambda: bool(screen.maps), timeout=60)
        await pilot.pause()
        text = screen_text(app)
        assert "layer 1/4: layer1 (64x56x56)" in text
        assert text.count("▀") > 200
        await pilot.press("right")
        assert "layer 2/4: layer2" in screen_text(app)
        await pilot.press("left", "left")
        assert "layer 4/4: layer4" in screen_text(app)
        await pilot.press("g")
        assert "layer 1/4: layer1" in screen_text(app)


async def test_actmap_ascii_mode_uses_a_character_ramp(workbench, image_path):
    screen = ActmapScreen(workbench, image=image_path, layers=["layer2"])
    app = ScreenApp(screen, ascii_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(screen.maps), timeout=60)
        await pilot.pause()
        text = screen_text(app)
        assert "layer 1/1: layer2" in text and "▀" not in text
        view = screen.query_one(PixelView)
        drawn = "".join(seg.text for line in view._lines for seg in line)
        assert set(drawn) <= set(" .:-=+*#%@") and len(set(drawn)) >= 3


def test_half_blocks_carry_two_pixels_per_cell():
    pixels = np.zeros((4, 2, 3), dtype=np.uint8)
    pixels[0::2] = (255, 0, 0)  # even rows red
    pixels[1::2] = (0, 0, 255)  # odd rows blue
    lines = half_block_lines(Image.fromarray(pixels), columns=2, rows=2)
    assert len(lines) == 2 and len(lines[0]) == 2
    style = lines[0][0].style
    assert lines[0][0].text == "▀"
    assert style.color.triplet == (255, 0, 0) and style.bgcolor.triplet == (0, 0, 255)


def test_ramp_goes_dark_to_bright():
    values = np.array([[0.0, 1.0]], dtype=np.float32)
    [line] = ramp_lines(values, columns=4, rows=1)
    assert line[0].text[0] == " " and line[0].text[-1] == "@"


async def test_explorer_p_and_m_open_the_screens(workbench, image_path):
    from tui.app import PtmApp

    app = PtmApp(workbench=make_workbench("alexnet"))
    async with app.run_test(size=SIZE) as pilot:
        from tui.screens.explore.explorer import ExplorerScreen

        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None)
        await pilot.pause()
        await pilot.press("p")
        assert isinstance(app.screen, PredictScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ExplorerScreen)
        await pilot.press("m")
        assert isinstance(app.screen, ActmapScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ExplorerScreen)


def _detector_workbench(name: str):
    import torch
    import torchvision

    from engine.edit.workbench import Workbench

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None).eval()
    return Workbench(model=model, name=name)


@pytest.mark.slow
async def test_freeze_preset_from_the_explorer_freezes_the_body_not_the_fpn():
    from tui.app import PtmApp
    from tui.screens.edit.freeze_presets import FreezePresetDialog
    from tui.screens.explore.explorer import ExplorerScreen

    workbench = _detector_workbench("fasterrcnn_mobilenet_v3_large_320_fpn")
    app = PtmApp(workbench=workbench)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None)
        await pilot.pause()
        await pilot.press("P")
        assert isinstance(app.screen, FreezePresetDialog)
        assert "freeze backbone.body" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExplorerScreen)
        params = dict(workbench.model.named_parameters())
        assert not any(p.requires_grad for n, p in params.items() if n.startswith("backbone.body"))
        assert all(p.requires_grad for n, p in params.items() if n.startswith("backbone.fpn"))
        assert workbench.edits[0] == {"op": "freeze", "target": "backbone.body"}


async def test_keypoint_preset_takes_n_from_the_dialog():
    from tui.screens.edit.freeze_presets import FreezePresetDialog

    workbench = _detector_workbench("keypointrcnn_resnet50_fpn")
    results: list[Any] = []

    class DialogApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(FreezePresetDialog(workbench), callback=results.append)

    app = DialogApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down")
        field = app.screen.query_one("#presets-n", Input)
        assert field.display
        field.value = "2"
        await pilot.pause()
        assert "unfreeze roi_heads.keypoint_head.14" in screen_text(app)
        field.focus()
        await pilot.press("enter")
        await pilot.pause()
    assert results == [[{"op": "freeze", "target": "roi_heads.keypoint_head"},
                        {"op": "freeze", "target": "roi_heads.keypoint_predictor"},
                        {"op": "unfreeze", "target": "roi_heads.keypoint_head.14"},
                        {"op": "unfreeze", "target": "roi_heads.keypoint_predictor"}]]
