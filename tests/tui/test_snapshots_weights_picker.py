"""The catalog's weights picker (w) at 80x24 and 120x35.

Looked at: vit_b_16's three weights entries with their acc@1, params and GFLOPs (SWAG_E2E's 86.9M
and 55.48 GFLOPs beside V1's 86.6M and 17.56), "(default)" on IMAGENET1K_V1 under the cursor, the
"none (random init)" row and the hint line all inside the box; nothing cached (an empty TORCH_HOME).
"""

from __future__ import annotations

import pytest
from conftest import wait_for

from tui.app import PtmApp

SIZES = [(80, 24), (120, 35)]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No weights file in the cache, no user keymap."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PTM_KEYMAP", str(tmp_path / "no-keys.toml"))


async def _open_picker(pilot) -> None:
    """Filter the catalog to vit_b_16, tab into the table and press w."""
    from tui.screens.catalog.catalog import CatalogScreen
    from tui.screens.catalog.weights_picker import WeightsPicker

    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, CatalogScreen) and app.screen.models
                   and not app.screen.reading_list, timeout=60)
    await pilot.press(*"vit_b_16", "tab", "w")
    await wait_for(pilot, lambda: isinstance(app.screen, WeightsPicker))
    app.clear_notifications()
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_weights_picker_snapshot(snap_compare, size):
    assert snap_compare(PtmApp(weights="none"), terminal_size=size, run_before=_open_picker)
