"""The catalog's weights picker (w) at 80x24 and 120x35.

Looked at: vit_b_16's three weights entries with their acc@1, params and GFLOPs (SWAG_E2E's 86.9M
and 55.48 GFLOPs beside V1's 86.6M and 17.56), "(default)" on IMAGENET1K_V1 under the cursor, the
"none (random init)" row and the hint line all inside the box; nothing cached (an empty TORCH_HOME).
"""

from __future__ import annotations

import pytest
from conftest import catalog_filtered, wait_for

from tui.app import PtmApp

SIZES = [(80, 24), (120, 35)]

pytestmark = pytest.mark.usefixtures("one_thread", "no_cache_no_keymap")


async def _open_picker(pilot) -> None:
    """Filter the catalog to vit_b_16, tab into the table and press w."""
    from tui.screens.catalog.weights_picker import WeightsPicker

    await catalog_filtered(pilot, "vit_b_16")
    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, WeightsPicker))
    pilot.app.clear_notifications()
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_weights_picker_snapshot(snap_compare, size):
    assert snap_compare(PtmApp(weights="none"), terminal_size=size, run_before=_open_picker)
