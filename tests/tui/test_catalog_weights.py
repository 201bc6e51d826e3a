"""The catalog's weights picker (w) and source filter (s), driven with Pilot."""

from __future__ import annotations

import pytest
import torchvision
from conftest import screen_text, wait_for

from tui.app import PtmApp
from tui.format import human_count
from tui.screens.catalog.catalog import CatalogScreen
from tui.screens.catalog.weights_picker import WeightsPicker
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree
from tui.widgets.no_weights import NoWeightsPanel

SIZE = (100, 30)


@pytest.fixture
def mirror(http_server, torch_home, monkeypatch):
    """An empty weights cache and a mirror that records every request (and has no files)."""
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("tv/"))
    return http_server


async def _catalog(pilot, filter_text: str = "") -> CatalogScreen:
    """Wait for the model list, type `filter_text`, and put the cursor in the table."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CatalogScreen)
                   and pilot.app.screen.models and not pilot.app.screen.reading_list, timeout=60)
    screen = pilot.app.screen
    if filter_text:
        await pilot.press(*filter_text)
    screen.query_one("#catalog-table").focus()
    await pilot.pause()
    return screen


async def test_picking_swag_e2e_opens_its_384px_architecture_without_downloading(mirror):
    enum = torchvision.models.ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1
    default = torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1
    app = PtmApp()
    async with app.run_test(size=SIZE) as pilot:
        await _catalog(pilot, "vit_b_16")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WeightsPicker))
        text = screen_text(app)
        for weights in torchvision.models.ViT_B_16_Weights:  # each entry with its own meta
            row = next(line for line in text.splitlines() if f" {weights.name}" in line)
            assert human_count(weights.meta["num_params"]) in row
            assert f"{weights.meta['_metrics']['ImageNet-1K']['acc@1']:.2f}" in row
            assert f"{weights.meta['_ops']:.2f}" in row
        assert f"{default.name} (default)" in text and "none (random init)" in text
        assert human_count(enum.meta["num_params"]) != human_count(default.meta["num_params"])
        await pilot.press("down", "enter")  # the cursor starts on the default: SWAG_E2E is next
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        explorer = app.screen
        assert explorer.weights == "IMAGENET1K_SWAG_E2E_V1"

        def panel_shown() -> bool:
            panels = explorer.query(NoWeightsPanel)
            return bool(panels) and panels.first().display and explorer.workbench is not None

        await wait_for(pilot, panel_shown, timeout=120)
        assert mirror.requests == []  # nothing was downloaded, not even tried
        assert "not on this machine" in explorer.no_weights
        tree = explorer.query_one(LayerTree)
        assert tree.counts[""][0] == enum.meta["num_params"]
        assert tuple(tree.model.get_submodule("encoder").pos_embedding.shape) == (1, 577, 768)
        assert explorer.workbench.input_size == (1, 3, 384, 384)
        await pilot.press("d")  # d asks for the download: now the mirror is tried
        await wait_for(pilot, lambda: mirror.requests and panel_shown(), timeout=60)
        assert mirror.requests[0].path.endswith(enum.url.rpartition("/")[2])


async def test_picking_random_init_and_escape(mirror):
    app = PtmApp()
    async with app.run_test(size=SIZE) as pilot:
        catalog = await _catalog(pilot, "resnet18")
        commands = [command.title for command in app.get_system_commands(catalog)]
        assert "Pick weights (w)" in commands and "Source (s)" in commands  # the palette
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        help_text = screen_text(app)
        assert "catalog.weights" in help_text and "catalog.source" in help_text
        await pilot.press("escape")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WeightsPicker))
        await pilot.press("escape")
        assert app.screen is catalog
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WeightsPicker))
        picker = app.screen
        assert picker.choices[-1] == "none"  # the last row: none (random init)
        await pilot.press(*["down"] * (len(picker.choices) - 1), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None, timeout=60)
        assert app.screen.workbench.source == "random init" and mirror.requests == []


async def test_source_key_lists_torchvision_timm_or_all():
    timm = pytest.importorskip("timm")
    tags = {f"timm/{name}" for name in timm.list_pretrained("resnet18.*")}
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _catalog(pilot, "resnet18")
        shown = {}
        for source in ("timm", "all", "torchvision"):
            await pilot.press("s")
            await wait_for(pilot, lambda: not screen.reading_list, timeout=60)
            await pilot.pause()
            shown[source] = {info.name for info in screen.shown}
            assert f"source: {source}" in screen_text(app)
        assert "resnet18" in shown["torchvision"] and not any(
            name.startswith("timm/") for name in shown["torchvision"])
        assert tags and tags <= shown["timm"] and "resnet18" not in shown["timm"]
        assert shown["all"] == shown["torchvision"] | shown["timm"]


async def test_a_cached_entry_is_marked_and_opens_with_its_file(mirror, torch_home):
    import torch

    torch.manual_seed(5)
    saved = torchvision.models.resnet18().state_dict()
    torch_home.mkdir(parents=True)
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    torch.save(saved, torch_home / weights.url.rpartition("/")[2])
    app = PtmApp()
    async with app.run_test(size=SIZE) as pilot:
        await _catalog(pilot, "resnet18")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WeightsPicker))
        row = next(line for line in screen_text(app).splitlines() if "IMAGENET1K_V1" in line)
        assert row.rstrip(" █").endswith(app.glyphs.check)
        await pilot.press("enter")  # the cursor starts on the default weights
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None, timeout=60)
        workbench = app.screen.workbench
        assert workbench.source == "cached pretrained" and mirror.requests == []
        assert torch.equal(workbench.model.state_dict()["fc.weight"], saved["fc.weight"])
