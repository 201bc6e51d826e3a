"""The main screens at 60x20 (a split terminal), as SVG snapshots; their 80x24 and 120x35
snapshots live beside their other tests (test_snapshots_screens, test_jobs_layout,
test_snapshots_summary).

Looked at: the header keeps the model and its edit count, tree labels end in an ellipsis with
their counts whole, the layer panel lists each parameter's name on its own line above its whole
shape and count, the histogram keeps its title and axes; the catalog, jobs and summary tables
scroll rather than cut their cells mid-number, and the footers show whole keys.
"""

from __future__ import annotations

import pytest
from conftest import ScreenApp
from test_jobs_layout import _jobs_ready, jobs_home  # noqa: F401 (a fixture)
from test_snapshots_screens import _app, explorer_then, fixed_files  # noqa: F401 (a fixture)
from test_snapshots_summary import _app as _summary_app
from test_snapshots_summary import _then

from tui.app import PtmApp
from tui.screens.jobs.jobs import JobsScreen

SIZE = (60, 20)
pytestmark = pytest.mark.usefixtures("one_thread")


def test_explorer_at_60x20(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE,
                        run_before=explorer_then(layer="layer4.0.downsample.0"))


def test_catalog_at_60x20(snap_compare):
    async def ready(pilot) -> None:
        from conftest import wait_for

        from tui.screens.catalog.catalog import CatalogScreen

        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CatalogScreen)
                       and pilot.app.screen.models)
        for box in pilot.app.screen.query("Input"):
            box.cursor_blink = False
        await pilot.pause(0.2)

    assert snap_compare(PtmApp(weights="none"), terminal_size=SIZE, press=[*"resnet"],
                        run_before=ready)


def test_jobs_at_60x20(snap_compare, jobs_home):  # noqa: F811 (the fixture imported above)
    assert snap_compare(ScreenApp(JobsScreen()), terminal_size=SIZE, run_before=_jobs_ready)


def test_summary_at_60x20(snap_compare):
    assert snap_compare(_summary_app(), terminal_size=SIZE,
                        run_before=_then("s", "SummaryScreen", "total mult-adds"))
