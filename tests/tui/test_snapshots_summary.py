"""The summary table and the graph-export dialog at 80x24 and 120x35, as SVG snapshots.

Looked at: the table's columns (layer, type, output shape, params, mult-adds) and the totals line
fit at both sizes, the cursor is on the explorer's layer; the graph dialog's buttons are on
screen and its message (no Graphviz here) names the .dot file written and how to render it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_workbench, screen_text, wait_for

from tui.app import PtmApp

SIZES = [(80, 24), (120, 35)]
FILES = Path("/tmp/ptm-tui-snapshots-summary")
"""A fixed folder: the path typed into the graph dialog shows on it."""

pytestmark = pytest.mark.usefixtures("one_thread")


def _app() -> PtmApp:
    wb = make_workbench("resnet18")
    wb.model.eval()
    wb.input_size = (1, 3, 224, 224)
    return PtmApp(workbench=wb)


def _then(key: str, until: str, text: str, path: str = ""):
    async def run_before(pilot) -> None:
        from textual.widgets import Input

        from tui.screens.explore.explorer import ExplorerScreen

        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None)
        app.screen.query_one("#layer-tree").select_path("layer1.0.conv1")
        await pilot.pause(0.3)
        await pilot.press(key)
        await wait_for(pilot, lambda: type(app.screen).__name__ == until, timeout=60)
        if path:
            app.screen.query_one("#path", Input).value = path
            await pilot.press("enter")
        await wait_for(pilot, lambda: text in screen_text(app), timeout=120)
        await app.workers.wait_for_complete()
        app.clear_notifications()
        for box in app.screen.query(Input):
            box.cursor_blink = False  # a snapshot must not depend on the cursor's blink phase
        await pilot.pause(0.3)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_summary_table_snapshot(snap_compare, size):
    assert snap_compare(_app(), terminal_size=size,
                        run_before=_then("s", "SummaryScreen", "total mult-adds"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_graph_dialog_snapshot(snap_compare, size):
    """The .dot source: the same screen whether Graphviz is installed or not (CI installs it)."""
    FILES.mkdir(exist_ok=True)
    for old in FILES.glob("resnet18-graph.*"):
        old.unlink()
    assert snap_compare(_app(), terminal_size=size,
                        run_before=_then("E", "GraphDialog", "wrote the graph",
                                         str(FILES / "resnet18-graph.dot")))
