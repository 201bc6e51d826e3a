"""The comparison (D) at 80x24 and 120x35: its dialog, and the explorer with the "changed" column.

Looked at: the dialog's buttons are on screen at both sizes; each tree row ends with its Δ and
fc's is the only non-zero one; the panel's line names the file and the cosine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_workbench, screen_text, wait_for

from tui.app import PtmApp

SIZES = [(80, 24), (120, 35)]
FILES = Path("/tmp/ptm-tui-snapshots")
"""A fixed folder: the typed path shows on screen, so it must not vary per run."""

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def finetuned_file(tmp_path, monkeypatch):
    """resnet18's seeded weights with only fc moved, at a fixed path."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PTM_KEYMAP", str(tmp_path / "no-keys.toml"))
    FILES.mkdir(exist_ok=True)
    weights = make_workbench("resnet18").model.state_dict()
    weights["fc.weight"] = weights["fc.weight"] + 0.05 * torch.randn(
        weights["fc.weight"].shape, generator=torch.Generator().manual_seed(1))
    torch.save(weights, FILES / "finetuned.pth")


def _app() -> PtmApp:
    workbench = make_workbench("resnet18")
    workbench.model.eval()
    return PtmApp(workbench=workbench)


def _compare(submit: bool):
    """Return a run_before that opens the explorer, presses D, types the file (and submits it)."""

    async def run_before(pilot) -> None:
        from tui.screens.explore.explorer import ExplorerScreen

        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None)
        explorer = app.screen
        await pilot.press("D")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareDialog")
        await pilot.press(*str(FILES / "finetuned.pth"))
        if submit:
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is explorer
                           and explorer.query_one("#layer-tree").changes)
            explorer.query_one("#layer-tree").select_path("fc")
            await wait_for(pilot, lambda: "changed vs" in screen_text(app))
        await app.workers.wait_for_complete()
        app.clear_notifications()  # toasts time out: a snapshot must not depend on when it was taken
        for box in app.screen.query("Input"):
            box.cursor_blink = False  # nor on the phase of a blinking cursor
        await pilot.pause(0.5)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_compare_dialog_snapshot(snap_compare, size):
    assert snap_compare(_app(), terminal_size=size, run_before=_compare(submit=False))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_explorer_with_the_changed_column_snapshot(snap_compare, size):
    assert snap_compare(_app(), terminal_size=size, run_before=_compare(submit=True))
