"""The explorer when a model's weights cannot be had: the tree stays, a panel shows the ways on."""

from __future__ import annotations

import pytest
from conftest import screen_text, wait_for

from tui.app import PtmApp
from tui.widgets.no_weights import NoWeightsPanel

SIZE = (120, 36)
MODEL = "squeezenet1_0"


@pytest.fixture
def unreachable_weights(http_server, torch_home, monkeypatch):
    """A mirror that answers 404 for every weights file: the weights cannot be had."""
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("tv/"))
    return http_server


def panel_text(app: PtmApp) -> str:
    """Return the text right of the tree (the panel), its lines joined and spaces collapsed."""
    rows = [line.split("\u2595", 1)[1] for line in screen_text(app).splitlines() if "\u2595" in line]
    return " ".join(" ".join(rows).split())


def panel_shown(app: PtmApp) -> bool:
    """Return whether the explorer shows its "no weights" panel."""
    panels = app.screen.query(NoWeightsPanel)
    return bool(panels) and panels.first().display


async def test_failed_download_keeps_the_tree_and_shows_the_ways_on(unreachable_weights):
    app = PtmApp(model=MODEL, weights="default")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: panel_shown(app), timeout=60)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "no weights" in text.splitlines()[0]  # the header marks it
        panel = panel_text(app)
        assert "HTTP 404" in panel  # the whole reason, not a one-line toast
        assert not [n for n in app._notifications if "failed" in n.title]  # nor a toast over it
        for way in ("d retry", "W open a weights file or folder", "PTM_WEIGHTS_MIRROR",
                    "ptm-tui import weights.tar", "--weights none"):
            assert way in panel, way
        assert "features" in text and "classifier" in text  # the meta tree is still there
        assert "no model" not in text

        await pilot.press("p")  # predicting needs real tensors
        await pilot.pause(0.2)
        assert "needs the weights first" in screen_text(app)

        # Planning works on the architecture: freeze the whole model, the header follows.
        await pilot.press("space")
        await wait_for(pilot, lambda: "0 trainable" in screen_text(app).splitlines()[0])
        assert "no weights" in screen_text(app).splitlines()[0]
        assert [e["op"] for e in app.screen.workbench.edits] == ["freeze"]

        asked = len(unreachable_weights.requests)
        await pilot.press("d")  # retry: a new request, and the panel is back with the reason
        await wait_for(pilot, lambda: len(unreachable_weights.requests) > asked, timeout=60)
        await wait_for(pilot, lambda: panel_shown(app), timeout=60)


async def test_w_opens_a_weights_file_from_the_panel(unreachable_weights, tmp_path):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(MODEL)
    path = tmp_path / "mine.pth"
    torch.save(model.state_dict(), path)

    app = PtmApp(model=MODEL, weights="default")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: panel_shown(app), timeout=60)
        await pilot.press("W")
        await pilot.press(*str(path), "enter")
        await wait_for(pilot, lambda: app.screen.workbench is not None, timeout=60)
        await pilot.pause(0.2)
        assert not panel_shown(app)
        assert "no weights" not in screen_text(app).splitlines()[0]
        opened = app.screen.workbench.model.state_dict()
        for key, value in model.state_dict().items():
            assert torch.equal(opened[key], value), key


async def test_edits_planned_without_weights_are_replayed_when_they_arrive(unreachable_weights,
                                                                         tmp_path):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(MODEL)
    path = tmp_path / "mine.pth"
    torch.save(model.state_dict(), path)

    app = PtmApp(model=MODEL, weights="default")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: panel_shown(app), timeout=60)
        await pilot.press("j", "space")  # freeze `features` on the architecture alone
        await wait_for(pilot, lambda: app.screen.workbench is not None
                       and len(app.screen.workbench.edits) == 1)
        planned = list(app.screen.workbench.edits)
        await pilot.press("W")
        await pilot.press(*str(path), "enter")
        await wait_for(pilot, lambda: app.screen.workbench is not None
                       and app.screen.workbench.source != "no weights", timeout=60)
        await pilot.pause(0.2)
        bench = app.screen.workbench
        assert bench.edits == planned == [{"op": "freeze", "target": "features"}]
        assert not any(p.requires_grad for p in bench.model.features.parameters())
        assert all(p.requires_grad for p in bench.model.classifier.parameters())
        opened = bench.model.state_dict()
        for key, value in model.state_dict().items():
            assert torch.equal(opened[key], value), key
