"""Your own module (file.py:Class): no pretrained weights is fine, and the summary finds a size."""

from __future__ import annotations

from conftest import screen_text, wait_for

from tui.app import PtmApp
from tui.screens.explore.summary import SummaryScreen
from tui.widgets.layer_tree import LayerTree
from tui.widgets.no_weights import NoWeightsPanel

LENET = """
from torch import nn


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
"""


async def test_own_module_opens_with_random_init_and_s_needs_no_flag(tmp_path):
    (tmp_path / "my_models.py").write_text(LENET)
    app = PtmApp(model=f"{tmp_path / 'my_models.py'}:LeNet")  # --weights default, as typed
    async with app.run_test(size=(110, 32), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.screen.workbench is not None
                       and app.screen.query_one(LayerTree).model is not None, timeout=60)
        await pilot.pause(0.2)
        assert not app.screen.query_one(NoWeightsPanel).display
        toasts = " | ".join(str(n.message) for n in app._notifications)
        assert "has no pretrained weights: it opens with a random init, which is fine" in toasts
        assert "mirror" not in screen_text(app).lower()
        assert "random init" in screen_text(app).splitlines()[0]
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=60)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "--input" not in text
        assert "1x1x28x28" in " | ".join(str(n.message) for n in app._notifications)
        assert "1x6x24x24" in text or "6, 24, 24" in text  # the first conv's output on 28x28
