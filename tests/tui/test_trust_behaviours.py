"""Issue 12's surprising behaviours, driven with Pilot as a user would meet them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from conftest import make_workbench, screen_text, wait_for
from PIL import Image
from textual.widgets import DataTable, Input, Static

from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree

SIZE = (120, 35)


async def _explorer(pilot) -> ExplorerScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                   and app.screen.query_one(LayerTree).model is not None, timeout=60)
    await pilot.pause()
    return app.screen


def _header(app) -> str:
    return screen_text(app).splitlines()[0]


def _panel_title(screen: ExplorerScreen) -> str:
    return str(screen.query_one("#layer-title", Static).render())


def _preview(app) -> str:
    return str(app.screen.query_one("#preview", Static).render())


def _messages(app) -> list[str]:
    return [f"{n.title} {n.message}" for n in app._notifications]


# --- the catalog ---------------------------------------------------------------------------

async def _catalog(pilot):
    from tui.screens.catalog.catalog import CatalogScreen

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CatalogScreen)
                   and pilot.app.screen.models, timeout=60)
    await pilot.pause()
    return pilot.app.screen


async def test_catalog_enter_opens_the_exact_match_and_says_random_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached
    app = PtmApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _catalog(pilot)
        await pilot.press(*"resnet18")
        names = [info.name for info in screen.shown]
        assert "quantized_resnet18" in names  # still listed, after the exact match
        assert names[0] == "resnet18" and screen.selected.name == "resnet18"
        await pilot.press("enter")
        explorer = await _explorer(pilot)
        assert explorer.model_name == "resnet18"
        assert any("resnet18" in m and "random weights" in m for m in _messages(app))
        await wait_for(pilot, lambda: explorer.workbench is not None, timeout=60)
        await pilot.pause()
        assert "resnet18 · random init" in _header(app)


async def test_J_in_the_catalog_opens_jobs_and_the_palette_lists_it(monkeypatch, tmp_path):
    from tui.screens.jobs.jobs import JobsScreen

    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _catalog(pilot)
        commands = [command.title for command in app.get_system_commands(screen)]
        assert any(title.startswith("Jobs (J)") for title in commands)
        assert screen.query_one("#filter", Input).has_focus
        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert screen.query_one("#filter", Input).value == ""  # J was not typed into it


# --- explorer: search, delete, one key one edit --------------------------------------------

async def test_search_ranks_names_before_types(resnet18_workbench):
    from tui.screens.explore.search_actions import find_layers

    model = resnet18_workbench.model
    found = find_layers(model, "conv2")
    names = [path for path, _ in model.named_modules() if path.endswith("conv2")]
    assert found[:len(names)] == names  # every conv2 first, in model order
    assert "conv1" in found and found.index("conv1") > len(names) - 1  # Conv2d: a type match
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        await pilot.press("slash", *"conv2", "enter")
        assert screen.current_path == "layer1.0.conv2"


async def test_deleting_the_layer_under_the_cursor_takes_it_off_the_panel(resnet18_workbench):
    wb = resnet18_workbench
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        screen.query_one(LayerTree).select_path("layer1.1")
        await pilot.pause(0.3)
        assert _panel_title(screen).startswith("layer1.1")
        await pilot.press("x")
        await wait_for(pilot, lambda: app.screen.query("#apply"))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(wb.edits) == 1 and not screen.applying)
        await pilot.pause(0.5)
        assert len(wb.model.layer1) == 1  # the last block is gone
        path = screen.current_path
        assert path != "layer1.1" and _panel_title(screen).split()[0] == (path or "ResNet")


async def test_F_is_one_edit_in_the_history_and_one_undo(resnet18_workbench):
    wb = resnet18_workbench
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        tree = screen.query_one(LayerTree)
        tree.select_path("layer3")
        await pilot.press("F")
        await pilot.pause()
        assert [e["target"] for e in wb.edits] == ["conv1", "bn1", "layer1", "layer2"]  # recipe
        assert len(wb.history) == 1 and "1 edit" in _header(app)
        frozen = {name for name, p in wb.model.named_parameters() if not p.requires_grad}
        assert frozen and all(name.split(".")[0] in ("conv1", "bn1", "layer1", "layer2")
                              for name in frozen)
        assert tree.counts[""] == wb.counts()
        await pilot.press("u")
        await pilot.pause()
        assert all(p.requires_grad for p in wb.model.parameters())  # one u undid all four
        assert wb.edits == [] and tree.counts[""] == wb.counts()
        await pilot.press("ctrl+r")
        assert len(wb.edits) == 4 and len(wb.history) == 1


async def test_a_detection_preset_is_one_edit_without_no_op_parts():
    from engine.edit.detection_heads import preset_edits
    from engine.edit.workbench import Workbench
    from tui.screens.edit.freeze_presets import FreezePresetDialog

    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None)
    wb = Workbench(model=model, name="fasterrcnn_mobilenet_v3_large_320_fpn",
                   input_size=(1, 3, 320, 320))
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _explorer(pilot)
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FreezePresetDialog))
        chosen = app.screen.presets[0].id
        asked = preset_edits(wb.model, chosen)  # freeze the body, unfreeze fpn, rpn, roi_heads
        assert chosen == "backbone-frozen" and len(asked) == 4
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        await pilot.pause()
        assert len(wb.history) == 1 and "1 edit" in _header(app)
        # everything trained at random init: the three unfreezes did nothing and are left out
        assert wb.edits == [{"op": "freeze", "target": "backbone.body"}]
        assert "unfroze" not in wb.history[0][1] and "(0 tensors)" not in wb.history[0][1]
        await pilot.press("u")
        assert all(p.requires_grad for p in wb.model.parameters()) and wb.history == []


# --- weights: W names them in the header; markup in file contents ---------------------------

async def test_header_names_the_weights_W_loaded_and_undo_takes_it_back(resnet18_workbench,
                                                                        tmp_path):
    from engine.edit.save import save_weights

    save_weights(torchvision.models.resnet18(), tmp_path / "donor.pth")
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _explorer(pilot)
        assert "random init" in _header(app)
        await pilot.press("W")
        await wait_for(pilot, lambda: app.screen.query("#source"))
        app.screen.query_one("#source", Input).value = str(tmp_path / "donor.pth")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "loaded" in _preview(app), timeout=30)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        await pilot.pause()
        assert "loaded donor.pth" in _header(app) and "random init" not in _header(app)
        await pilot.press("u")
        await pilot.pause()
        assert "random init" in _header(app)


@pytest.mark.parametrize("first_line", ["[/bold] not a tag", "[model]", "[red]x[/red]"])
async def test_brackets_in_a_file_are_shown_as_they_are(resnet18_workbench, tmp_path, first_line):
    bad = tmp_path / "notes.pth"
    bad.write_text(f"{first_line}\nname = 'x'\n")
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        await pilot.press("W")
        await wait_for(pilot, lambda: app.screen.query("#source"))
        app.screen.query_one("#source", Input).value = str(bad)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "not a weights file" in _preview(app), timeout=30)
        assert first_line[:8] in _preview(app)  # the file's start, brackets and all
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("slash", *first_line, "enter")  # a search for it: a toast
        await pilot.pause(0.3)
        assert f"no layer matches '{first_line.lower()}'" in screen_text(app)
        assert app.is_running


async def test_bracketed_keys_in_a_weights_file_show_in_the_load_report(resnet18_workbench,
                                                                        short_tmp):
    torch.save({"[red]fc.weight": torch.zeros(3, 512), "[model]": torch.zeros(2)},
               short_tmp / "odd.pth")
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _explorer(pilot)
        await pilot.press("W")
        await wait_for(pilot, lambda: app.screen.query("#source"))
        app.screen.query_one("#source", Input).value = str(short_tmp / "odd.pth")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "nothing in" in _preview(app), timeout=30)
        table = app.screen.query_one("#report", DataTable)
        table.move_cursor(row=table.row_count - 1)  # the unexpected keys come last
        await wait_for(pilot, lambda: "[red]fc.weight" in screen_text(app) and "[model]" in screen_text(app))


# --- saving asks before overwriting and says where ---------------------------------------

@pytest.mark.parametrize(("key", "name"), [("R", "mine.toml"), ("ctrl+s", "mine.safetensors")])
async def test_saving_over_a_file_asks_first_and_names_the_absolute_path(
        resnet18_workbench, tmp_path, monkeypatch, key, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text("keep me")
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        await pilot.press(key)
        await wait_for(pilot, lambda: app.screen.query("#path"))
        app.screen.query_one("#path", Input).value = name  # relative to the working folder
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert "already exists" in _preview(app) and str(tmp_path / name) in _preview(app)
        assert (tmp_path / name).read_text() == "keep me"
        await pilot.press("enter")  # asked twice: overwrite
        await wait_for(pilot, lambda: app.screen is screen, timeout=30)
        await pilot.pause()
        assert (tmp_path / name).read_bytes() != b"keep me"
        assert any(f"to {tmp_path / name}" in m for m in _messages(app))


# --- failures stay where the result would be -----------------------------------------------

async def test_a_failed_prediction_replaces_the_previous_chart_with_its_reason(tmp_path):
    from tui.screens.use.predict import PredictScreen

    image = tmp_path / "img.png"
    Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8)).save(image)
    not_image = tmp_path / "notes.png"
    not_image.write_text("[bold]not an image")
    wb = make_workbench("resnet18")
    wb.model.eval()
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _explorer(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PredictScreen))
        screen = app.screen
        screen.query_one("#predict-path", Input).value = str(image)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.result is not None, timeout=60)
        await pilot.pause()
        top = screen.result["top"][0]["label"][:20]
        assert top in screen_text(app)
        screen.query_one("#predict-path", Input).value = str(not_image)
        screen.query_one("#predict-path", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "prediction failed" in screen_text(app), timeout=60)
        await pilot.pause(0.5)  # past the toast's first frame: the status line stays
        status = str(screen.query_one("#predict-status", Static).render())
        assert status.startswith("prediction failed: ") and "notes.png" in status
        assert str(screen.query_one("#predict-chart", Static).render()).strip() == ""
        assert screen.result is None


async def test_failed_activation_maps_take_the_previous_maps_off_with_the_reason(tmp_path):
    from tui.screens.use.actmap import ActmapScreen, PixelView

    image = tmp_path / "img.png"
    Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8)).save(image)
    wb = make_workbench("resnet18")
    wb.model.eval()
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _explorer(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ActmapScreen))
        screen = app.screen
        screen.query_one("#actmap-path", Input).value = str(image)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.maps, timeout=60)
        assert screen.query_one(PixelView).item is not None
        screen.query_one("#actmap-path", Input).value = str(tmp_path / "missing.png")
        screen.query_one("#actmap-path", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.maps, timeout=60)
        await pilot.pause(0.3)
        status = str(screen.query_one("#actmap-status", Static).render())
        assert status.startswith("activation maps failed: ") and "missing.png" in status
        assert screen.query_one(PixelView).item is None


# --- dialogs start sensibly ----------------------------------------------------------------

async def test_init_on_a_batchnorm_starts_on_a_method_it_takes(resnet18_workbench):
    from textual.widgets import Select

    from tui.screens.edit.init_dialog import PRESET, InitDialog

    wb = resnet18_workbench
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        screen.query_one(LayerTree).select_path("bn1")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InitDialog))
        await pilot.pause()
        assert app.screen.query_one("#init-method", Select).value == PRESET
        await pilot.press("ctrl+s")  # apply what it starts with
        await wait_for(pilot, lambda: len(wb.edits) == 1, timeout=30)
        assert bool((wb.model.bn1.weight == 1).all()) and bool((wb.model.bn1.bias == 0).all())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        screen.query_one(LayerTree).select_path("conv1")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InitDialog))
        assert app.screen.query_one("#init-method", Select).value == "kaiming_normal"


async def test_the_insert_dialog_opens_empty_after_a_replace_and_an_insert():
    wb = make_workbench("alexnet")
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        screen.query_one(LayerTree).select_path("classifier.5")
        await pilot.press("r")  # replace starts from the layer's own expression
        await wait_for(pilot, lambda: app.screen.query("#module"))
        assert app.screen.query_one("#module", Input).value == "ReLU(inplace=True)"
        app.screen.query_one("#module", Input).value = "GELU()"
        await wait_for(pilot, lambda: "shapes fit" in _preview(app), timeout=30)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(wb.edits) == 1 and not screen.applying, timeout=30)
        for key in ("o", "O"):
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen.query("#module"))
            assert app.screen.query_one("#module", Input).value == ""
            await pilot.pause()  # and the empty box does not look filled in (a grey "GELU()" did)
            assert "(empty: type a module expression)" in screen_text(app)
            await pilot.press(*"Dropout(0.1)")
            await wait_for(pilot, lambda: "shapes fit" in _preview(app), timeout=30)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is screen and not screen.applying,
                           timeout=30)
        assert len(wb.edits) == 3


# --- the summary table and the graph ---------------------------------------------------------

async def test_s_shows_every_layer_with_shapes_params_and_totals(resnet18_workbench):
    from tui.screens.explore.summary import SummaryScreen

    wb = resnet18_workbench
    wb.input_size = (1, 3, 224, 224)
    shapes: dict[str, tuple[int, ...]] = {}  # the reference: a plain PyTorch forward

    def keep_shape(path: str, output: torch.Tensor) -> None:
        shapes.setdefault(path, tuple(output.shape))

    hooks = [module.register_forward_hook(
        lambda _m, _i, out, path=path: keep_shape(path, out))
        for path, module in wb.model.named_modules() if path]
    with torch.no_grad():
        wb.model.eval()(torch.zeros(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        screen.query_one(LayerTree).select_path("layer2.0.conv1")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=60)
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        keys = [row.key.value for row in table.ordered_rows]
        assert set(shapes) <= set(keys)
        for path in ("conv1", "layer2.0.conv1", "layer4.1.bn2", "fc"):
            row = table.get_row(path)
            assert row[2] == "x".join(map(str, shapes[path]))
            params = sum(p.numel() for p in wb.model.get_submodule(path).parameters())
            assert row[3] == (f"{params:,}" if params else "-")
        assert keys[table.cursor_row] == "layer2.0.conv1"  # where the explorer's cursor was
        totals = str(app.screen.query_one("#summary-totals", Static).render())
        assert f"total params {sum(p.numel() for p in wb.model.parameters()):,}" in totals
        exact = int(totals.split("total mult-adds ")[1].split("(")[1].split(")")[0].replace(",", ""))
        ops = torchvision.models.ResNet18_Weights.DEFAULT.meta["_ops"] * 1e9  # GFLOPs = mult-adds
        assert abs(exact - ops) / ops < 0.01
        table.move_cursor(row=len(keys) - 1)  # it scrolls to the last layer
        await pilot.pause()
        assert "fc" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


async def test_E_exports_the_graph_or_its_dot_source_with_how_to_render(resnet18_workbench,
                                                                        tmp_path):
    import shutil

    from tui.screens.use.graph_dialog import GraphDialog

    app = PtmApp(workbench=resnet18_workbench)
    commands = []
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _explorer(pilot)
        commands = [command.title for command in app.get_system_commands(screen)]
        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, GraphDialog))
        app.screen.query_one("#path", Input).value = str(tmp_path / "g.pdf")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "running" not in _preview(app), timeout=120)
        dot = Path(tmp_path / "g.dot")
        assert dot.is_file() and dot.read_text().lstrip().startswith("digraph")
        if shutil.which("dot") is None:
            assert "Graphviz" in _preview(app) and "install" in _preview(app)
            assert str(dot) in _preview(app)
        else:
            assert (tmp_path / "g.pdf").is_file() and "wrote the graph" in _preview(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
    assert any(title.startswith("Export graph (E)") for title in commands)
