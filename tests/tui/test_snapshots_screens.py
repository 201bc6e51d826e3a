"""Every screen at 80x24 (an SSH laptop) and 120x35, as SVG snapshots (under __snapshots__).

Each snapshot was looked at: buttons on screen, titles present, nothing cut mid-word that the
layout could have kept. The jobs screen has its own snapshots (tests/tui/test_jobs_screen.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_workbench, wait_for

from tui.app import PtmApp

SIZES = [(80, 24), (120, 35)]
FILES = Path("/tmp/ptm-tui-snapshots")
"""A fixed folder: paths typed into the screens show on them, so they must not vary per run."""

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def fixed_files(tmp_path, monkeypatch):
    """No weights cached, no Slurm; an image and a weights file at fixed paths."""
    import numpy as np
    import torch
    import torchvision
    from PIL import Image

    from engine.edit.save import save_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PTM_KEYMAP", str(tmp_path / "no-keys.toml"))
    # the launch form offers Slurm where sbatch is on PATH (CI has it): snapshot the form without it
    monkeypatch.setattr("tui.screens.train.launch_slurm.sbatch_found", lambda: False)
    FILES.mkdir(exist_ok=True)
    yy, xx = np.mgrid[0:90, 0:120]
    pixels = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(FILES / "gradient.png")
    if not (FILES / "donor.pth").exists():
        torch.manual_seed(0)
        save_weights(torchvision.models.resnet50(num_classes=3), FILES / "donor.pth")


def explorer_then(*keys: str, layer: str = "layer1.0.conv1", until: str = "",
                  text: str = "", settle: float = 0.5):
    """Return a run_before that opens the explorer on `layer`, presses `keys`, and waits for the
    screen class named `until` (and for `text` on screen)."""

    async def run_before(pilot) -> None:
        from conftest import screen_text

        from tui.screens.explore.explorer import ExplorerScreen

        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None)
        screen = app.screen
        screen.query_one("#layer-tree").select_path(layer)
        await wait_for(pilot, lambda: getattr(screen.query_one("#layer-panel").data, "path", None)
                       == layer)
        for key in keys:
            if key.startswith("type:"):
                await pilot.press(*key[5:])
            else:
                await pilot.press(key)
            await pilot.pause(0.1)
        if until:
            await wait_for(pilot, lambda: type(app.screen).__name__ == until)
        if text:
            await wait_for(pilot, lambda: text in screen_text(app), timeout=60)
        await app.workers.wait_for_complete()
        app.clear_notifications()  # toasts time out: a snapshot must not depend on when it was taken
        for box in app.screen.query("Input"):
            box.cursor_blink = False  # nor on the phase of a blinking cursor
        await pilot.pause(settle)

    return run_before


def _app() -> PtmApp:
    wb = make_workbench("resnet18")
    wb.model.eval()
    return PtmApp(workbench=wb)


SCREENS = {
    "explorer": explorer_then(),
    "help": explorer_then("question_mark", until="HelpScreen"),
    "init_dialog": explorer_then("i", until="InitDialog", text="before:"),
    "init_lab": explorer_then("L", until="InitLabScreen"),
    "activation_std": explorer_then("A", until="ActivationStdScreen", text="std"),
    "predict": explorer_then("p", "type:" + str(FILES / "gradient.png"), "enter",
                             until="PredictScreen", text="%"),
    "actmap": explorer_then("m", "type:" + str(FILES / "gradient.png"), "enter",
                            until="ActmapScreen", text="layer 1/"),
    "launch": explorer_then("t", until="LaunchScreen"),
    # (on a layer without weights: no histogram, whose redraw races the panel's new width)
    "edit_history": explorer_then("H", "type:10", "enter", "e", layer="layer1.0.relu",
                                  text="replace_head"),
    "replace_dialog": explorer_then("r", "type:Linear(512, 10)", layer="fc", until="ModuleDialog",
                                    text="512"),
    "head_dialog": explorer_then("H", "type:10", until="HeadDialog"),
    "input_channels_dialog": explorer_then("C", "type:4", until="InputChannelsDialog"),
    "delete_dialog": explorer_then("x", layer="layer1.0.relu", until="DeleteDialog"),
    "load_weights_dialog": explorer_then("W", "type:" + str(FILES / "donor.pth"), "enter",
                                         until="LoadWeightsDialog", text="loaded"),
    "save_dialog": explorer_then("ctrl+s", until="SaveDialog"),
    "freeze_presets": explorer_then("P", until="FreezePresetDialog"),
}


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen_snapshot(snap_compare, name, size):
    assert snap_compare(_app(), terminal_size=size, run_before=SCREENS[name])


@pytest.mark.parametrize("name", [name for name in SCREENS if name != "init_dialog"])
def test_screen_snapshot_at_60x20(snap_compare, name):
    """Every screen at 60x20 too (the init dialog's preview, what its snapshot waits for, is
    scrolled below the fold there)."""
    assert snap_compare(_app(), terminal_size=(60, 20), run_before=SCREENS[name])


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_freeze_presets_on_a_detector_snapshot(snap_compare, size):
    import torch
    import torchvision

    from engine.edit.workbench import Workbench

    torch.manual_seed(0)
    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None).eval()
    app = PtmApp(workbench=Workbench(model=model, name=name))
    assert snap_compare(app, terminal_size=size,
                        run_before=explorer_then("P", layer="backbone", until="FreezePresetDialog"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_catalog_snapshot(snap_compare, size):
    async def ready(pilot) -> None:
        from tui.screens.catalog.catalog import CatalogScreen

        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CatalogScreen)
                       and pilot.app.screen.models)
        for box in pilot.app.screen.query("Input"):
            box.cursor_blink = False
        await pilot.pause(0.3)

    assert snap_compare(PtmApp(weights="none"), terminal_size=size, press=[*"mobilenet"],
                        run_before=ready)
