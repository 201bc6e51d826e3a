"""At 80x24 (an SSH laptop terminal) every screen keeps its buttons, keys and panels readable."""

from __future__ import annotations

import pytest
from conftest import screen_text, wait_for

from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree

pytestmark = pytest.mark.usefixtures("one_thread")


async def _explorer(pilot) -> ExplorerScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                   and app.screen.query_one(LayerTree).model is not None)
    await pilot.pause()
    return app.screen


async def test_the_footer_keeps_summary_initialise_and_help_at_80_columns(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(80, 24)) as pilot:
        await _explorer(pilot)
        footer = screen_text(app).splitlines()[-1]
        for part in ("space Freeze", "u Undo", "/ Search", "s Summary", "i Initialise", "? help",
                     "^p commands"):
            assert part in footer, footer
        assert len(footer.rstrip()) <= 80


async def test_j_k_g_G_scroll_the_help_screen(resnet18_workbench):
    from tui.screens.help import HelpScreen

    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(80, 24)) as pilot:
        await _explorer(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        assert "ptm-tui keys: explorer" in screen_text(app)
        assert "closes this help" not in screen_text(app)  # the list is longer than 24 rows
        await pilot.press("G")
        await pilot.pause()
        assert "closes this help" in screen_text(app)
        assert "ptm-tui keys: explorer" not in screen_text(app)
        await pilot.press("g")
        await pilot.pause()
        assert "ptm-tui keys: explorer" in screen_text(app)
        box = app.screen.query_one("#help-box")
        await pilot.press("j", "j", "j")
        await pilot.pause()
        assert box.scroll_y == 3
        await pilot.press("k")
        await pilot.pause()
        assert box.scroll_y == 2


async def test_the_edit_history_goes_under_the_panel_at_80_columns(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _explorer(pilot)
        panel = screen.query_one("#layer-panel")
        width_before = panel.size.width
        await pilot.press("e")
        await pilot.pause(0.3)
        history = screen.query_one("#edit-history")
        assert panel.size.width == width_before  # the detail pane keeps its columns
        assert history.region.width == 80 and history.region.y > panel.region.y
        assert "no edits yet" in screen_text(app)


async def test_the_edit_history_sits_beside_the_panel_at_120_columns(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await _explorer(pilot)
        await pilot.press("e")
        await pilot.pause(0.3)
        panel, history = screen.query_one("#layer-panel"), screen.query_one("#edit-history")
        assert history.region.x >= panel.region.right and panel.size.width >= 30


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
async def test_the_init_dialog_buttons_are_on_screen(resnet18_workbench, size):
    from textual.widgets import Button

    from tui.screens.edit.init_dialog import InitDialog

    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=size) as pilot:
        await _explorer(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InitDialog))
        await pilot.pause(0.5)
        width, height = size
        for button in app.screen.query(Button):
            region = button.region
            assert region.height > 0 and region.bottom <= height and region.right <= width
        assert "Apply" in screen_text(app) and "Close" in screen_text(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
async def test_the_load_report_shows_whole_shapes_and_keeps_its_buttons(tmp_path, size):
    import torch
    import torchvision
    from textual.widgets import Button

    from engine.edit.save import save_weights
    from engine.edit.workbench import Workbench
    from tui.screens.edit.weights_dialogs import LoadWeightsDialog

    torch.manual_seed(0)
    donor = torchvision.models.resnet50(num_classes=3)  # 25 shape mismatches with resnet18
    save_weights(donor, tmp_path / "donor.pth")
    model = torchvision.models.resnet18()
    app = PtmApp(workbench=Workbench(model=model, name="resnet18"))
    async with app.run_test(size=size) as pilot:
        await _explorer(pilot)
        await pilot.press("W")
        await wait_for(pilot, lambda: isinstance(app.screen, LoadWeightsDialog))
        await pilot.press(*str(tmp_path / "donor.pth"), "enter")
        await wait_for(pilot, lambda: "loaded" in screen_text(app), timeout=60)
        await pilot.pause(0.3)
        text = screen_text(app)
        # the first mismatched rows, with both shapes whole, as torch reports them
        key = "layer1.0.conv1.weight"
        donor_shape = "x".join(map(str, donor.state_dict()[key].shape))
        model_shape = "x".join(map(str, model.state_dict()[key].shape))
        row = next(line for line in text.splitlines() if key in line)
        assert f" {donor_shape} " in row and f" {model_shape} " in row
        width, height = size
        for button in app.screen.query(Button):
            assert button.region.height > 0 and button.region.bottom <= height
            assert button.region.right <= width


async def test_the_catalog_at_80_columns_drops_columns_before_cutting_names(tmp_path, monkeypatch):
    import torchvision

    from tui.screens.catalog.catalog import CatalogScreen

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    app = PtmApp(weights="none")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogScreen) and app.screen.models)
        await pilot.press(*"mobilenet")
        await pilot.pause(0.3)
        text = screen_text(app)
        header = next(line for line in text.splitlines() if line.lstrip().startswith("model"))
        # size, then GFLOPs are dropped (DROP_ORDER) until the longest name fits
        assert "size" not in header and "GFLOPs" not in header
        assert "acc@1" in header and "params" in header and "cached" in header
        names = [n for n in torchvision.models.list_models() if "mobilenet" in n]
        for name in names:  # torchvision's own names, each whole on its row
            assert f" {name} " in text, name


def test_long_names_are_cut_between_words():
    from tui.format import short_name

    assert short_name("fasterrcnn_mobilenet_v3_large_320_fpn", 24) == "fasterrcnn…large_320_fpn"
    assert short_name("quantized_mobilenet_v3_large", 20) == "quantized…v3_large"
    assert short_name("resnet18", 8) == "resnet18"
    assert len(short_name("a" * 30, 10)) == 10  # one long word: cut inside it, still fits


@pytest.mark.parametrize(("key", "title"), [("A", "Activation stds · resnet18"), ("L", "Init lab"),
                                            ("p", "Predict · resnet18"),
                                            ("m", "Activation maps · resnet18"),
                                            ("t", "Finetune · resnet18")])
async def test_every_tool_screen_has_a_title(resnet18_workbench, key, title):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _explorer(pilot)
        await pilot.press(key)
        await wait_for(pilot, lambda: app.screen is not screen)
        await pilot.pause(0.3)
        assert screen_text(app).splitlines()[0].strip().startswith(title)


async def test_the_activation_std_inputs_are_labelled(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(80, 24)) as pilot:
        await _explorer(pilot)
        await pilot.press("A")
        await pilot.pause(0.5)
        top = "\n".join(screen_text(app).splitlines()[:4])
        assert "input C,H,W" in top and "images folder" in top and "3,224,224" in top


async def test_the_init_lab_run_button_is_on_screen_at_80x24():
    from textual.widgets import Button

    from tui.screens.edit.init_lab import InitLabScreen

    app = PtmApp(weights="none")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(InitLabScreen())
        await pilot.pause(0.3)
        run = app.screen.query_one("#lab-run", Button)
        assert run.region.height > 0 and run.region.bottom <= 24
        labels = "\n".join(screen_text(app).splitlines())
        assert "Run" in labels and "Clear" in labels


async def test_a_long_model_name_is_cut_in_the_header_not_its_counts():
    import torch
    import torchvision

    from engine.edit.workbench import Workbench

    torch.manual_seed(0)
    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None)
    total = sum(p.numel() for p in model.parameters())
    app = PtmApp(workbench=Workbench(model=model, name=name))
    async with app.run_test(size=(80, 24)) as pilot:
        await _explorer(pilot)
        header = screen_text(app).splitlines()[0]
        assert header.lstrip().startswith("fasterrcnn…")
        assert f"{total / 1e6:.1f}M params, {total / 1e6:.1f}M trainable · cpu" in header
