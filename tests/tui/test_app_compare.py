"""The explorer's comparison (D): each layer's change against other weights, in the tree and panel."""

from __future__ import annotations

import torch
from conftest import screen_text, wait_for

from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree

SIZE = (100, 30)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """||B-A||/||A|| computed directly with torch."""
    a, b = a.double().flatten(), b.double().flatten()
    return float(torch.linalg.vector_norm(b - a) / torch.linalg.vector_norm(a))


async def test_d_loads_a_comparison_and_the_tree_and_panel_show_each_layers_change(
        resnet18_workbench, short_tmp):
    before = {k: v.clone() for k, v in resnet18_workbench.model.state_dict().items()}
    after = {k: v.clone() for k, v in before.items()}
    after["fc.weight"] += 0.05 * torch.randn(after["fc.weight"].shape,
                                             generator=torch.Generator().manual_seed(1))
    torch.save(after, short_tmp / "finetuned.pth")
    fc = _relative(torch.cat([before["fc.weight"].flatten(), before["fc.bias"]]),
                   torch.cat([after["fc.weight"].flatten(), after["fc.bias"]]))
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.query_one(LayerTree).model is not None)
        explorer = app.screen
        tree = explorer.query_one(LayerTree)
        await pilot.press("D")
        await pilot.pause()
        await pilot.press(*str(short_tmp / "finetuned.pth"), "enter")
        await wait_for(pilot, lambda: app.screen is explorer and tree.changes)
        await pilot.press("G")  # the last top-level layer: fc
        await wait_for(pilot, lambda: explorer.current_path == "fc")
        # the panel's figures come from a worker: wait for them rather than for a fixed time
        await wait_for(pilot, lambda: f"||B-A||/||A|| {fc:.3g}" in screen_text(app), timeout=60)
        text = screen_text(app)
        assert f"fc Linear 513.0K Δ{fc:.3g}" in text
        assert "layer1 Sequential 148.0K Δ0" in text  # untouched: exactly 0
        assert f"||B-A||/||A|| {fc:.3g}" in text and "finetuned.pth" in text
        assert tree.changes["layer4"].relative_change == 0.0
        await pilot.press("space")  # freezing fc changes no weight: the comparison stays
        await pilot.press("k")
        await pilot.pause()
        assert tree.changes and "Δ" in screen_text(app)
        edit = {"op": "init", "target": "fc", "method": "zeros"}
        explorer.workbench.apply(edit)  # as the init dialog does
        explorer.refresh_after_edit(edit)
        await pilot.press("j")
        await wait_for(pilot, lambda: not tree.changes)
        await pilot.pause()
        assert "Δ" not in screen_text(app) and "changed vs" not in screen_text(app)


async def test_weights_that_name_nothing_keep_the_dialog_open_with_the_reason(resnet18_workbench):
    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.query_one(LayerTree).model is not None)
        explorer = app.screen
        await pilot.press("D")
        await pilot.pause()
        await pilot.press(*"no_such_weights", "enter")
        await wait_for(pilot, lambda: "names no weights" in screen_text(app))
        assert app.screen is not explorer  # still in the dialog, the reason on screen
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is explorer)
        assert explorer.query_one(LayerTree).changes == {}


async def test_a_layer_that_starts_at_zero_shows_a_change_from_zero(resnet18_workbench, short_tmp):
    torch.save(resnet18_workbench.model.state_dict(), short_tmp / "trained.pth")
    with torch.no_grad():
        resnet18_workbench.model.fc.weight.zero_()
        resnet18_workbench.model.fc.bias.zero_()
    app = PtmApp(workbench=resnet18_workbench)  # A: fc all zeros; B: fc as it was
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.query_one(LayerTree).model is not None)
        explorer = app.screen
        tree = explorer.query_one(LayerTree)
        await pilot.press("D")
        await pilot.pause()
        await pilot.press(*str(short_tmp / "trained.pth"), "enter")
        await wait_for(pilot, lambda: app.screen is explorer and tree.changes)
        await pilot.press("G")
        await wait_for(pilot, lambda: explorer.current_path == "fc")
        await wait_for(pilot, lambda: "fc Linear 513.0K Δfrom 0" in screen_text(app)
                       and "||B-A||/||A|| from 0, cosine -" in screen_text(app)
                       and "layer1 Sequential 148.0K Δ0" in screen_text(app), timeout=60)
