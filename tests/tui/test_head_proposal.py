"""Issue 20, item 2: once the launch form has counted the data, `H` in the explorer proposes the head
that data needs: a detector's class head counts the categories + 1 (the background), then a
keypoint predictor the data's keypoints; the proposed edits leave heads the job's own check takes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import screen_text, wait_for
from textual.widgets import Input

from engine.train.sample_coco import write_coco

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_thread")]


async def _propose_and_apply(pilot, app, explorer) -> tuple[str, str]:
    """Press H, read the proposed classes and head layer, apply them; return both."""
    from tui.screens.edit.layer_dialogs import HeadDialog

    await pilot.press("H")
    await wait_for(pilot, lambda: isinstance(app.screen, HeadDialog))
    await pilot.pause(0.2)
    dialog = app.screen
    proposed = dialog.query_one("#classes", Input).value, dialog.query_one("#target", Input).value
    assert "proposed: the data" in " ".join(screen_text(app).split())
    edits = len(explorer.workbench.edits)
    await pilot.press("enter")
    await wait_for(
        pilot,
        lambda: app.screen is explorer and len(explorer.workbench.edits) > edits and not explorer.applying,
        timeout=60,
    )
    return proposed


async def test_h_proposes_the_heads_the_counted_coco_data_needs(tmp_path):
    from task_models import tiny_keypoints

    from engine.edit.workbench import Workbench
    from engine.train.tasks import get_task
    from tui.app import PtmApp
    from tui.screens.explore.explorer import ExplorerScreen
    from tui.screens.train.launch import LaunchScreen
    from tui.widgets.layer_tree import LayerTree

    path = write_coco(tmp_path, images=4, size=64)  # 2 categories, 3 keypoints each
    bench = Workbench(model=tiny_keypoints(num_classes=2, num_keypoints=5), name="tiny_keypoints")
    app = PtmApp(workbench=bench)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ExplorerScreen) and app.screen.query_one(LayerTree).model is not None
            ),
        )
        explorer = app.screen
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        form = app.screen
        form.query_one("#launch-data", Input).value = str(path)
        await wait_for(pilot, lambda: "found:" in str(form.query_one("#launch-found").render()), timeout=30)
        assert "3 keypoints" in str(form.query_one("#launch-found").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is explorer)
        assert await _propose_and_apply(pilot, app, explorer) == ("3", "roi_heads.box_predictor")
        assert await _propose_and_apply(pilot, app, explorer) == ("3", "roi_heads.keypoint_predictor")
    found = {"categories": ["rectangle", "ellipse"], "keypoints": ["left_side", "right_side", "top"]}
    get_task("keypoints").check_head(bench.model, found)  # the job's own check now takes the heads
