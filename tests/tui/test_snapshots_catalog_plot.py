"""The catalog's plot (p) and the side-by-side compare (c) at 80x24 and 120x35.

Looked at (as text): the plot names resnet50 beside its highlighted point with 80.86%, the y title
"ImageNet-1K acc@1 (%)", x ticks 2 5 10 (80x24) under "GFLOPs per image, log scale", the frontier
staircase from resnet18 to resnet152, the list of the five resnets beside it; the compare screen
has resnet18, resnet50 and vit_b_16 in columns with their params, GFLOPs, acc@1/acc@5 (the best
in green), input layer and head from the meta build, nothing cached.
"""

from __future__ import annotations

import pytest
from conftest import catalog_filtered, wait_for

from tui.app import PtmApp

SIZES = [(80, 24), (120, 35)]

pytestmark = pytest.mark.usefixtures("one_thread", "no_cache_no_keymap")


async def _open_plot(pilot) -> None:
    """Filter to resnet1/resnet3/resnet5 names, put the cursor on resnet50 and press p."""
    from tui.screens.catalog.catalog_plot import CatalogPlotScreen

    await catalog_filtered(pilot, "resnet")
    await pilot.press("down", "down", "down", "down", "p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CatalogPlotScreen))
    pilot.app.clear_notifications()
    await pilot.pause(0.3)


async def _open_compare(pilot) -> None:
    """Mark resnet18, resnet50 and vit_b_16 and press c."""
    from tui.screens.catalog.catalog import CatalogScreen
    from tui.screens.catalog.model_compare import ModelCompareScreen

    app = pilot.app
    await catalog_filtered(pilot, "resnet")
    await pilot.press("down", "down", "space", "down", "down", "space")
    catalog = app.screen
    assert isinstance(catalog, CatalogScreen)
    filter_box = catalog.query_one("#filter")
    filter_box.value = "vit_b_16"
    await pilot.pause(0.2)
    await pilot.press("space", "c")
    await wait_for(pilot, lambda: isinstance(app.screen, ModelCompareScreen) and app.screen.figures)
    app.clear_notifications()
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_catalog_plot_snapshot(snap_compare, size):
    assert snap_compare(PtmApp(weights="none"), terminal_size=size, run_before=_open_plot)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_model_compare_snapshot(snap_compare, size):
    assert snap_compare(PtmApp(weights="none"), terminal_size=size, run_before=_open_compare)
