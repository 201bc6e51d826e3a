"""Snapshots of the catalog and the explorer at 80x24 and 120x36 (SVGs under __snapshots__)."""

from __future__ import annotations

import pytest
from conftest import make_workbench, wait_for

from tui.app import PtmApp


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No weights cached: the catalog's cached column is the same on every machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


async def _catalog_ready(pilot) -> None:
    from tui.screens.catalog.catalog import CatalogScreen

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CatalogScreen)
                   and pilot.app.screen.models)
    await pilot.pause()


async def _explorer_on_layer(pilot) -> None:
    from tui.screens.explore.explorer import ExplorerScreen

    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                   and app.screen.workbench is not None)
    screen = app.screen
    screen.query_one("#layer-tree").select_path("layer1.0.conv1")
    await wait_for(pilot, lambda: getattr(screen.query_one("#layer-panel").data, "path", None)
                   == "layer1.0.conv1")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_catalog_snapshot(snap_compare, size):
    assert snap_compare(PtmApp(weights="none"), terminal_size=size, press=[*"resnet"],
                        run_before=_catalog_ready)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_explorer_snapshot(snap_compare, size):
    app = PtmApp(workbench=make_workbench("resnet18"))
    assert snap_compare(app, terminal_size=size, run_before=_explorer_on_layer)


def test_explorer_ascii_light_snapshot(snap_compare):
    app = PtmApp(workbench=make_workbench("resnet18"), ascii_only=True, light=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_explorer_on_layer)
