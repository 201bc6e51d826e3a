"""The explorer shows the architecture the chosen weights build, even before (or without) the file."""

from __future__ import annotations

import pytest
import torchvision
from conftest import wait_for

from tui.app import PtmApp
from tui.widgets.layer_tree import LayerTree
from tui.widgets.no_weights import NoWeightsPanel


@pytest.fixture
def unreachable_weights(http_server, torch_home, monkeypatch):
    """A mirror that answers 404 for every weights file: the weights cannot be had."""
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("tv/"))
    return http_server


@pytest.mark.parametrize(("model", "weights", "enum"), [
    ("vit_b_16", "IMAGENET1K_SWAG_E2E_V1", torchvision.models.ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1),
    ("googlenet", "default", torchvision.models.GoogLeNet_Weights.DEFAULT),
    ("regnet_y_16gf", "IMAGENET1K_SWAG_E2E_V1",
     torchvision.models.RegNet_Y_16GF_Weights.IMAGENET1K_SWAG_E2E_V1),
])
async def test_a_weights_entry_shows_its_own_architecture(unreachable_weights, model, weights,
                                                          enum) -> None:
    app = PtmApp(model=model, weights=weights)
    async with app.run_test(size=(120, 36)) as pilot:
        def panel_shown() -> bool:
            panels = app.screen.query(NoWeightsPanel)
            return bool(panels) and panels.first().display

        await wait_for(pilot, panel_shown, timeout=90)
        tree = app.screen.query_one(LayerTree)
        assert tree.counts[""][0] == enum.meta["num_params"]  # what the weights hold
        workbench = app.screen.workbench
        assert sum(p.numel() for p in workbench.model.parameters()) == enum.meta["num_params"]
        crop = enum.transforms.keywords["crop_size"]
        assert workbench.input_size == (1, 3, crop, crop)  # the size these weights expect
