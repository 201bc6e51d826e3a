"""The catalog's plot (p) and side-by-side compare (space marks, c), driven with the Pilot."""

from __future__ import annotations

import pytest
from conftest import catalog_filtered, screen_text, wait_for

from tui.app import PtmApp
from tui.model_plot import y_title
from tui.screens.catalog.catalog_plot import CatalogPlotScreen
from tui.screens.catalog.model_compare import ModelCompareScreen

pytestmark = pytest.mark.usefixtures("one_thread", "no_cache_no_keymap")


async def test_plot_follows_the_list_and_opens_the_model():
    app = PtmApp(weights="none")
    async with app.run_test(size=(100, 30)) as pilot:
        catalog = await catalog_filtered(pilot, "resnet")
        await pilot.press("down", "p")  # the cursor on the second match: resnet152
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogPlotScreen))
        plot = app.screen
        assert plot.highlight == catalog.shown[1].name == "resnet152"
        text = screen_text(app)
        assert "resnet152 82.28%" in text and "ImageNet-1K acc@1 (%)" in text
        assert "GFLOPs per image, log scale" in text
        assert "of other tasks (t)" in text  # resnet's detection and segmentation models
        # the same figures as the catalog's table row (acc@1, GFLOPs)
        row = dict(zip(catalog.columns_shown, catalog.query_one("#catalog-table").get_row("resnet152")))
        status = str(plot.query_one("#plot-models-status").render())
        assert f"acc@1 {row['acc1']}" in status and f"{row['gflops']} GFLOPs" in status
        await pilot.press("down")
        assert plot.highlight == "resnet18"
        text = screen_text(app)
        assert "resnet18 69.76%" in text and "resnet152 82.28%" not in text
        await pilot.press("x")
        assert "parameters (millions), log scale" in screen_text(app)
        await pilot.press("t")
        assert plot.plot_task != "classification"
        assert y_title(plot.plot) in screen_text(app)  # the task's own metric on y
        assert "acc@1" not in y_title(plot.plot)
        for _ in plot.tasks:  # t cycles back round to classification
            if plot.plot_task != "classification":
                await pilot.press("t")
        assert plot.plot_task == "classification"
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExplorerScreen")
        assert app.screen.model_name == plot.listed[1].name


async def test_marked_models_side_by_side_from_the_catalog():
    app = PtmApp(weights="none")
    async with app.run_test(size=(120, 35)) as pilot:
        catalog = await catalog_filtered(pilot, "resnet")
        await pilot.press("c")
        assert not isinstance(app.screen, ModelCompareScreen)  # nothing marked: it says so
        assert any("mark 2 to 4 models" in n.message for n in app._notifications)
        await pilot.press("down", "down", "space", "down", "down", "space")
        assert catalog.marked == ["resnet18", "resnet50"]
        assert "✓ resnet18" in screen_text(app)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelCompareScreen) and app.screen.figures)
        text = screen_text(app)
        for shown in (
            "fc: Linear(512, 1000)",
            "fc: Linear(2048, 1000)",
            "11.7M",
            "25.6M",
            "69.76%",
            "80.86%",
            "conv1: Conv2d(3, 64, 7x7, stride 2)",
        ):
            assert shown in text
        await pilot.press("escape")
        assert app.screen is catalog


async def test_a_fifth_mark_is_refused_and_marks_are_shared_with_the_plot():
    app = PtmApp(weights="none")
    async with app.run_test(size=(100, 30)) as pilot:
        catalog = await catalog_filtered(pilot, "resnet")
        for _ in range(4):
            await pilot.press("space", "down")
        await pilot.press("space")
        assert len(catalog.marked) == 4
        assert any("unmark one" in n.message for n in app._notifications)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogPlotScreen))
        assert app.screen.highlight == "resnet50"  # the catalog's cursor
        await pilot.press("space")  # a fifth: refused here too
        assert len(catalog.marked) == 4
        await pilot.press("up", "space")  # resnet34, marked in the catalog: unmarked
        assert catalog.marked == ["resnet101", "resnet152", "resnet18"]
        assert "✓ resnet18" in screen_text(app) and "✓ resnet34" not in screen_text(app)
        await pilot.press("escape")
        assert app.screen is catalog
        assert catalog.selected.name == "resnet34"  # the plot's last highlight
        assert "✓ resnet34" not in screen_text(app)


async def test_palette_help_and_footer_name_plot_and_compare():
    from textual.command import CommandPalette

    from tui.keymap import key_rows
    from tui.widgets.keybar import KeyBar

    app = PtmApp(weights="none")
    async with app.run_test(size=(80, 24)) as pilot:
        catalog = await catalog_filtered(pilot, "")
        titles = [command.title for command in app.get_system_commands(catalog)]
        assert "Plot models (p)" in titles and "Compare marked models (c)" in titles
        assert {"Plot models", "Compare marked models", "Mark"} <= {r.description for r in key_rows(catalog)}
        footer = catalog.query_one(KeyBar).render().plain
        assert "p Plot models" in footer and "space Mark" in footer and "c Compare marked models" in footer
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: CommandPalette.is_open(app))
        await pilot.press(*"plot models", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogPlotScreen))
        await pilot.press("question_mark")
        help_text = screen_text(app)
        assert "X axis" in help_text and "Compare marked" in help_text and "plot_models.task" in help_text


async def test_keys_typed_fast_act_on_the_row_under_the_cursor():
    """Down then space typed in one burst (tmux send-keys Down Space) marks the new row: the
    mark does not wait for the highlight message of the move (it did, and unmarked the old row)."""
    from textual.widgets import DataTable

    app = PtmApp(weights="none")
    async with app.run_test(size=(100, 30)) as pilot:
        catalog = await catalog_filtered(pilot, "resnet")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogPlotScreen))
        plot = app.screen
        plot.query_one(DataTable).action_cursor_down()  # no pause: its message is still queued
        plot.action_mark()
        assert catalog.marked == [plot.listed[1].name]


async def test_at_80_columns_each_listed_name_reads_differently():
    app = PtmApp(weights="none")
    async with app.run_test(size=(80, 24)) as pilot:
        await catalog_filtered(pilot, "rcnn")  # fasterrcnn_resnet50_fpn, ..._mobilenet_v3_large_fpn, ...
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogPlotScreen))
        table = app.screen.query_one("DataTable")
        shown = [str(table.get_row_at(i)[0]).strip() for i in range(table.row_count)]
        assert len(shown) == len(app.screen.listed) >= 5
        assert any("…" in name for name in shown), "80 columns cut the long names"
        assert len(set(shown)) == len(shown), shown
