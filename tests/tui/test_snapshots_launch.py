"""The launch form with a data folder counted and a warmup in its schedule, at 80x24 and 120x35.

Looked at: the Data section shows what the folder holds under its field, the plot's title counts
the updates an epoch from those images, its curve rises over the two warmup epochs and then
falls, and the Launch button stays on screen at 80x24.
"""

from __future__ import annotations

import pytest
from conftest import ScreenApp, make_workbench, wait_for
from test_snapshots_screens import FILES, SIZES, fixed_files  # noqa: F401 (a fixture)
from textual.widgets import Input

from tui.screens.train.launch import LaunchScreen

pytestmark = pytest.mark.usefixtures("one_thread")


async def _filled(pilot) -> None:
    from engine.train.sample_data import write_digits

    digits = FILES / "digits"
    if not digits.exists():
        write_digits(digits, size=8, split=True, limit=100)
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
    form = app.screen
    for key, value in (("data", str(digits)), ("epochs", "6"), ("warmup_epochs", "2")):
        form.query_one(f"#launch-{key}", Input).value = value
    form.query_one("#launch-data", Input).focus()
    plot = form.query_one("#launch-schedule")
    await wait_for(pilot, lambda: "updates/epoch" in plot.title and "assumed" not in plot.title)
    await app.workers.wait_for_complete()
    for box in form.query("Input"):
        box.cursor_blink = False
    await pilot.pause(0.5)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_launch_form_with_data_and_warmup_snapshot(snap_compare, size):
    workbench = make_workbench("resnet18")
    workbench.apply({"op": "replace_head", "num_classes": 10})
    assert snap_compare(ScreenApp(LaunchScreen(workbench)), terminal_size=size, run_before=_filled)
