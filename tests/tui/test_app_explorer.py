"""The explorer driven with Pilot: tree keys, lazy loading, search, freezing, undo, panel, help."""

from __future__ import annotations

import pytest
from conftest import deep_model, make_workbench, screen_text, wait_for

from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree

SIZE = (100, 30)


async def _ready(pilot) -> tuple[ExplorerScreen, LayerTree]:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                   and app.screen.query_one(LayerTree).model is not None)
    await pilot.pause()
    return app.screen, app.screen.query_one(LayerTree)


def _header(app) -> str:
    return screen_text(app).splitlines()[0]


async def test_vim_keys_move_open_and_close(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        assert screen.current_path == ""
        await pilot.press("j", "j")
        assert screen.current_path == "bn1"
        await pilot.press("k")
        assert screen.current_path == "conv1"
        await pilot.press("G")
        assert screen.current_path == "fc"
        await pilot.press("g")
        assert screen.current_path == ""
        await pilot.press(*"jjjjj")
        assert screen.current_path == "layer1"
        assert "layer1.0" not in tree.nodes_by_path  # lazy: not loaded before it is opened
        await pilot.press("l")
        assert "layer1.0" in tree.nodes_by_path
        assert "layer1.0.conv1" not in tree.nodes_by_path
        await pilot.press("l")
        assert screen.current_path == "layer1.0"
        await pilot.press("h")  # layer1.0 is closed: go to the parent
        assert screen.current_path == "layer1"
        await pilot.press("h")  # close layer1
        assert not tree.nodes_by_path["layer1"].is_expanded
        await pilot.press("enter")  # enter opens it again
        assert tree.nodes_by_path["layer1"].is_expanded
        await pilot.pause()
        text = screen_text(app)
        assert "layer1 Sequential 148.0K" in text
        assert "conv1 Conv2d 9.4K" in text


async def test_search_by_name_and_type_with_n_and_shift_n(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        await pilot.press("slash", *"downs", "enter")
        assert screen.current_path == "layer2.0.downsample"  # layer1 has none: first match
        assert tree.nodes_by_path["layer2.0"].is_expanded  # its ancestors were opened
        await pilot.press("n")
        assert screen.current_path == "layer3.0.downsample"
        await pilot.press("N", "N")
        assert screen.current_path == "layer4.0.downsample"  # wraps around
        await pilot.press("slash", *"linea", "enter")  # by type
        assert screen.current_path == "fc"
        await pilot.press("slash", *"zzz", "enter")
        await pilot.pause()
        assert "no layer matches" in screen_text(app)
        assert screen.current_path == "fc"


async def test_space_freezes_a_subtree_and_header_follows_engine_counts(resnet18_workbench):
    wb = resnet18_workbench
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        _, tree = await _ready(pilot)
        await pilot.press("j", "j", "j", "j", "j")  # layer1
        await pilot.press("l")
        await pilot.press("space")
        total, trainable = wb.counts()
        assert trainable == total - 147_968
        assert wb.edits == [{"op": "freeze", "target": "layer1"}]
        assert tree.counts[""] == (total, trainable)
        assert tree.counts["layer1.0"][1] == 0  # loaded children are relabelled too
        await pilot.pause()
        text = screen_text(app)
        assert "11.5M trainable" in _header(app)
        assert "■ layer1 Sequential" in text and "■ 0 BasicBlock" in text
        assert "▼ ResNet 11.7M" in text  # the root has no mark: the header has the counts
        await pilot.press("space")  # again: unfreeze
        assert wb.counts() == (total, total)
        assert tree.counts[""] == (total, total)
        assert len(wb.edits) == 2
        await pilot.press("u")  # undo the unfreeze
        assert wb.counts() == (total, trainable)
        assert tree.counts[""] == (total, trainable)
        await pilot.press("ctrl+r")  # redo it
        assert wb.counts()[1] == total
        await pilot.pause()
        assert "11.7M trainable" in _header(app)


async def test_freeze_before_and_unfreeze_all(resnet18_workbench):
    wb = resnet18_workbench
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        _, tree = await _ready(pilot)
        assert tree.select_path("layer4")
        await pilot.press("F")
        frozen = ["conv1", "bn1", "layer1", "layer2", "layer3"]
        assert [e["target"] for e in wb.edits] == frozen
        for name, module in wb.model.named_children():
            params = list(module.parameters())
            assert all(not p.requires_grad for p in params) == (name in frozen) or not params
        assert tree.counts[""] == wb.counts()
        # frozen BatchNorm layers are put in eval mode by default
        wb.model.train()
        await pilot.press("F")  # nothing left to freeze before layer4
        assert len(wb.edits) == 5
        await pilot.press("U")
        assert wb.counts()[0] == wb.counts()[1]
        assert tree.counts[""] == wb.counts()
        await pilot.pause()
        assert "11.7M params, 11.7M trainable" in _header(app)


async def test_frozen_batchnorm_stays_in_eval_mode_setting(resnet18_workbench):
    wb = resnet18_workbench
    wb.model.train()
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        tree.select_path("bn1")
        await pilot.press("space")
        assert not wb.model.bn1.training
        assert wb.model.layer1[0].bn1.training
        await pilot.press("b")  # setting off: frozen BN follows the model's mode
        assert not screen.frozen_bn_eval
        assert wb.model.bn1.training


async def test_panel_shows_params_stats_and_histogram(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        screen, _ = await _ready(pilot)
        await pilot.press("j")  # conv1
        await wait_for(pilot, lambda: getattr(screen.query_one("#layer-panel").data, "path",
                                              None) == "conv1")
        await pilot.pause()
        text = screen_text(app)
        assert "Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2)" in text  # one line, cut to fit
        assert "weight" in text and "64x3x7x7" in text and "float32" in text and "9.4K" in text
        for word in ("mean", "std", "min", "max", "norm", "zeros"):
            assert word in text
        hist = screen.query_one("#layer-hist")
        assert hist.display and hist._data[0] and sum(hist._data[0]) == 9408


async def test_nan_weights_raise_an_alarm():
    import torch

    wb = make_workbench("resnet18")
    with torch.no_grad():
        wb.model.fc.weight[0, :3] = float("nan")
        wb.model.fc.weight[1, 0] = float("inf")
    app = PtmApp(workbench=wb)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        screen, _ = await _ready(pilot)
        await pilot.press("G")
        await wait_for(pilot, lambda: getattr(screen.query_one("#layer-panel").data, "path",
                                              None) == "fc")
        await pilot.pause()
        assert "3 NaN, 1 Inf values" in screen_text(app)


async def test_help_lists_keys_and_closes():
    app = PtmApp(workbench=make_workbench("resnet18"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        for line in ("space", "Freeze before", "Unfreeze all", "Undo", "Search"):
            assert line in text
        await pilot.press("G")  # the app's keys come last (the help scrolls with j k g G)
        await pilot.pause()
        assert "^p" in screen_text(app) and "Commands" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, ExplorerScreen)
        await pilot.press("f1")
        assert type(app.screen).__name__ == "HelpScreen"


async def test_command_palette_lists_every_action():
    app = PtmApp(workbench=make_workbench("resnet18"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen, _ = await _ready(pilot)
        titles = [c.title for c in app.get_system_commands(screen)]
        for binding in ExplorerScreen.BINDINGS:
            if binding.description and binding.id:
                assert any(t.startswith(binding.description) for t in titles), binding
        search = next(c for c in app.get_system_commands(screen) if c.title.startswith("Search ("))
        await search.callback()
        await pilot.pause()
        assert screen.query_one("#search").display and screen.query_one("#search").has_focus
        await pilot.press("escape")
        await pilot.press("ctrl+p")  # the real palette: find an action by typing
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"freeze before")
        await pilot.pause(0.5)
        assert "Freeze before (F)" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert app.is_running


async def test_every_binding_has_an_id():
    from tui.screens.catalog.catalog import CatalogScreen
    from tui.screens.help import HelpScreen

    for cls in (PtmApp, ExplorerScreen, CatalogScreen, HelpScreen, LayerTree):
        for binding in cls.BINDINGS:
            assert binding.id, (cls.__name__, binding)


async def test_ascii_mode_draws_only_ascii():
    app = PtmApp(workbench=make_workbench("resnet18"), ascii_only=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        tree.select_path("layer1.0")
        await pilot.press("space", "j")
        await wait_for(pilot, lambda: getattr(screen.query_one("#layer-panel").data, "path",
                                              None) == "layer1.1")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "# 0 BasicBlock" in text and "`-" in text
        assert [c for c in text if ord(c) > 127] == []
        await pilot.press("question_mark")
        await pilot.pause()
        assert [c for c in screen_text(app) if ord(c) > 127] == []
        await pilot.press("escape", "ctrl+p", *"free")
        await pilot.pause(0.3)
        assert "Freeze before" in screen_text(app)
        assert [c for c in screen_text(app) if ord(c) > 127] == []


async def test_light_theme():
    app = PtmApp(workbench=make_workbench("resnet18"), light=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _ready(pilot)
        assert app.theme == "textual-light"
        assert app.current_theme.dark is False


async def test_refresh_after_edit_rebuilds_only_the_changed_parent(resnet18_workbench):
    from torch import nn

    wb = resnet18_workbench
    app = PtmApp(workbench=wb)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        tree.select_path("layer1.0.conv1")
        kept = tree.nodes_by_path["layer2"]
        wb.model.layer1[0].conv1 = nn.Conv2d(64, 64, 1, bias=False)  # as a surgery op would
        del wb.model.layer1[0]._modules["relu"]
        screen.refresh_after_edit()
        assert tree.nodes_by_path["layer2"] is kept  # untouched subtrees keep their nodes
        assert "layer1.0.relu" not in tree.nodes_by_path
        assert tree.counts["layer1.0.conv1"][0] == 64 * 64
        assert tree.counts[""] == wb.counts()
        await pilot.pause()
        assert "conv1 Conv2d 4.1K" in screen_text(app)


async def test_a_freeze_toggle_on_a_big_model_relabels_in_place():
    # 11,101 modules: a toggle relabels the nodes on screen and loads or rebuilds none of them
    # (the time it takes is measured in bench/tui.py, not asserted here)
    from engine.edit.workbench import Workbench

    model = deep_model()
    app = PtmApp(workbench=Workbench(model=model, name="deep"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        tree.select_path("50")
        nodes = dict(tree.nodes_by_path)
        await pilot.press("space")
        assert screen.workbench.edits == [{"op": "freeze", "target": "50"}]
        assert not any(p.requires_grad for p in model[50].parameters())
        assert all(p.requires_grad for i in (49, 51) for p in model[i].parameters())
        assert tree.nodes_by_path == nodes  # the same nodes, none added
        assert all(tree.nodes_by_path[path] is node for path, node in nodes.items())
        total, trainable = screen.workbench.counts()
        assert tree.counts[""] == (total, trainable) and tree.counts["50"] == (total // 100, 0)
        await pilot.pause()
        assert "■ 50 Sequential" in screen_text(app)


@pytest.mark.parametrize("key", ["u", "ctrl+r"])
async def test_undo_redo_with_nothing_to_do_says_so(key):
    app = PtmApp(workbench=make_workbench("resnet18"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _ready(pilot)
        await pilot.press(key)
        assert "nothing to" in screen_text(app)


def test_the_first_frame_does_not_wait_for_torch():
    import subprocess
    import sys

    code = ("import sys, tui.app, tui.screens.explore.explorer, tui.screens.catalog.catalog, "
            "tui.screens.help; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_summary_shows_output_shape_and_mult_adds(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        tree.select_path("layer1.0.conv1")
        await pilot.pause()
        assert "press s for output shapes" in screen_text(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.summary is not None, timeout=60)
        await pilot.pause()
        assert "Summary of resnet18, input 1x3x224x224" in screen_text(app)  # the table
        await pilot.press("escape")
        await pilot.pause()
        text = screen_text(app)
        assert "output 1x64x56x56" in text and "mult-adds 115.6M" in text
        await pilot.press("G")  # fc
        await pilot.pause()
        assert "output 1x1000" in screen_text(app)


async def test_keys_typed_in_one_burst_after_slash_reach_the_search(resnet18_workbench):
    """A terminal delivers '/downs<enter>' in one read: every key must land in the search."""
    from textual import events

    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE) as pilot:
        _, tree = await _ready(pilot)
        for key, character in [("slash", "/"), *[(c, c) for c in "downs"], ("enter", "\r")]:
            app.post_message(events.Key(key, character))  # all queued before any is handled
        await wait_for(pilot, lambda: tree.cursor_node is not None
                       and tree.cursor_node.data == "layer2.0.downsample")


async def test_undo_past_the_undo_budget_says_why_and_keeps_the_model():
    bench = make_workbench("resnet18")
    bench.undo_budget = 0  # only the newest edit keeps its undo copy
    bench.apply({"op": "init", "target": "fc", "method": "ones"})
    bench.apply({"op": "init", "target": "fc", "method": "zeros"})
    app = PtmApp(workbench=bench)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await _ready(pilot)
        await pilot.press("u")
        await wait_for(pilot, lambda: "undid init" in screen_text(app))
        await pilot.press("u")
        await wait_for(pilot, lambda: "PTM_UNDO_MB" in screen_text(app))
        assert len(bench.edits) == 1 and bool((bench.model.fc.weight == 1).all())


async def test_edits_wait_while_a_surgery_edit_is_being_applied(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen, _ = await _ready(pilot)
        screen.applying = "replace_head"  # as while the edit worker runs
        await pilot.press("space", "u", "H")
        await wait_for(pilot, lambda: "still applying replace_head" in screen_text(app))
        assert resnet18_workbench.edits == [] and app.screen is screen
        screen.applying = None
        await pilot.press("space")
        assert resnet18_workbench.edits == [{"op": "freeze", "target": ""}]


async def test_a_refused_background_edit_unlocks_the_edit_keys(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen, _ = await _ready(pilot)
        screen.apply_in_background({"op": "replace", "target": None, "module": "ReLU()"})
        await wait_for(pilot, lambda: "replace refused" in screen_text(app))
        assert screen.applying is None and resnet18_workbench.edits == []
        await pilot.press("space")
        assert resnet18_workbench.edits == [{"op": "freeze", "target": ""}]


async def test_a_summary_from_before_an_edit_is_dropped_when_it_arrives_late(resnet18_workbench):
    from engine.inspect.summary import summarize
    from tui.messages import SummaryReady

    bench = resnet18_workbench
    app = PtmApp(workbench=bench)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        stale = summarize(bench.model, bench.input_size)  # computed, then an edit lands
        started = screen.generation
        assert screen.apply_edit({"op": "replace_head", "num_classes": 5})
        screen.post_message(SummaryReady(stale, started))
        await pilot.pause(0.2)
        assert screen.summary is None
        tree.select_path("fc")
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.summary is not None, timeout=60)
        await pilot.pause()
        # the panel's summary line (toasts may cover it on screen while the panel still grows)
        assert "output 1x5" in str(screen.query_one("#layer-summary").render())


async def test_a_refused_whole_model_edit_leaves_the_tree_on_the_restored_model():
    pytest.importorskip("timm")
    from engine.edit.workbench import Workbench

    bench = Workbench.open("timm/deit_tiny_distilled_patch16_224", weights="none")
    bench.input_size = (1, 3, 100, 100)  # the ViT wants 224: the shape check refuses the edit
    app = PtmApp(workbench=bench)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen, tree = await _ready(pilot)
        screen.apply_in_background({"op": "replace_head", "num_classes": 5})
        await wait_for(pilot, lambda: "replace_head refused" in screen_text(app), timeout=60)
        assert bench.edits == [] and bench.model.head.out_features == 1000
        assert tree.model is bench.model
        assert tree.counts[""] == bench.counts()


async def test_every_open_node_counts_right_after_whole_model_freezes_and_undo(resnet18_workbench):
    from engine.edit.freeze import count_params

    bench = resnet18_workbench
    app = PtmApp(workbench=bench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        _, tree = await _ready(pilot)
        tree.select_path("layer1")
        await pilot.press("space", "l", "j", "l")  # layer1 frozen; layer1 and layer1.0 open
        tree.select_path("")
        for key in ("space", "space", "u", "u"):  # freeze all, unfreeze all, undo, undo
            await pilot.press(key)
            for path in tree.nodes_by_path:
                assert tree.counts[path] == count_params(bench.module(path)), (key, path)
        assert bench.edits == [{"op": "freeze", "target": "layer1"}]
