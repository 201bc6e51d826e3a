"""80 columns show what matters, and plots people can read (issue 19): paths cut in the middle,
numbers and shapes never cut, an ellipsis for every cut; histograms without combs, with round
ticks, an axis and a title also in ASCII; the learning plot's band, key and bands as the CLI."""

from __future__ import annotations

import itertools
import re

import pytest
from conftest import make_workbench, screen_text, wait_for

from tui.app import PtmApp
from tui.format import short_path
from tui.learning_plot import draw_update_ratios, render
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.histogram import histogram_text
from tui.widgets.layer_panel import LayerPanel
from tui.widgets.layer_tree import LayerTree

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_thread")]


def test_a_cut_path_keeps_its_block_and_its_tensor_and_says_it_was_cut():
    a = "layer4.0.downsample.0.weight"
    for width in (12, 16, 20, 24):
        cut_a = short_path(a, width)
        assert len(cut_a) <= width and "…" in cut_a
        assert cut_a.endswith("weight") or width < 16
    assert short_path(a, 20) == "layer4.0.…0.weight"
    assert short_path(a, 40) == a
    assert short_path("blocks.11.attn.qkv.weight", 20) == "blocks.…qkv.weight"


async def _explorer(pilot, path: str) -> ExplorerScreen:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, ExplorerScreen)
            and app.screen.workbench is not None
            and app.screen.query_one(LayerTree).model is not None
        ),
    )
    screen = app.screen
    screen.query_one(LayerTree).select_path(path)
    panel = screen.query_one(LayerPanel)
    await wait_for(pilot, lambda: getattr(panel.data, "path", None) == path, timeout=60)
    await pilot.pause(0.3)
    return screen


async def test_at_60_columns_the_header_tree_and_panel_keep_their_numbers():
    wb = make_workbench("resnet18")
    for _ in range(12):
        wb.apply({"op": "freeze", "target": "layer1"})
    app = PtmApp(workbench=wb)
    async with app.run_test(size=(60, 20)) as pilot:
        await _explorer(pilot, "layer4.0.downsample")
        text = screen_text(app)
        lines = text.splitlines()
        assert "resnet18 · 12 edits" in lines[0]  # the edit count right after the name
        tree_line = next(line for line in lines if "132.1K" in line)  # downsample's count whole
        assert "…" in tree_line.split("▕")[0]  # its name or type was cut: an ellipsis says so
        assert "512x256x1x1" in text and "131.1K" in text  # shapes and counts whole
        assert not re.search(r"\w…\s+\S+…\s+\S+…", text)  # no row of cut cells (`… … …`)


async def test_at_80_columns_a_block_lists_its_tensors_apart_and_the_histogram_is_titled():
    app = PtmApp(workbench=make_workbench("resnet18"))
    async with app.run_test(size=(80, 40)) as pilot:
        screen = await _explorer(pilot, "layer4")
        panel = screen.query_one(LayerPanel)
        right = [line.split("▕", 1)[1] for line in screen_text(app).splitlines() if "▕" in line]
        start = next(n for n, line in enumerate(right) if line.split()[:2] == ["param", "shape"])
        rows = []
        for line in right[start + 1 :]:
            if not line.strip():
                break
            rows.append(line)
        shown = [row.split()[0] for row in rows if not row.lstrip().startswith("...")]
        assert len(shown) >= 8 and len(set(shown)) == len(shown)  # no two cut alike
        assert "0.…0.weight" in shown or "0.downsample.0.weight" in shown
        assert all(name.endswith(("weight", "bias")) for name in shown)
        screen.query_one(LayerTree).select_path("layer4.0.downsample.0")
        await wait_for(pilot, lambda: getattr(panel.data, "path", None) == "layer4.0.downsample.0")
        await pilot.pause(0.3)
        # the title survives the long path: its start and end, the cut marked
        assert re.search(r"weights of layer4\.\S*0 \(131\.1K\)", screen_text(app))


async def test_a_layer_without_parameters_shows_its_panel():
    app = PtmApp(workbench=make_workbench("resnet18"))
    async with app.run_test(size=(80, 24)) as pilot:
        await _explorer(pilot, "layer1.0.relu")
        assert "no parameters" in screen_text(app) and app.is_running


def test_an_even_distribution_draws_even_columns_not_a_comb():
    edges = [-0.1 + 0.2 * i / 100 for i in range(101)]
    for width in (30, 37, 44, 61):
        text = histogram_text([1000.0] * 100, edges, width, 10, "even").plain.splitlines()
        rows = [line.split("┤", 1)[-1].split("│", 1)[-1] for line in text[1:-2]]
        for row in rows:
            assert len(set(row)) <= 1, (width, row)  # every column the same height


def test_histogram_ticks_are_round_and_the_ascii_one_keeps_axis_and_title():
    edges = [-0.0977 + 0.1984 * i / 64 for i in range(65)]
    counts = [float(5000 - abs(i - 32) * 150) for i in range(64)]
    for ascii_only in (False, True):
        lines = histogram_text(counts, edges, 44, 12, "weights of conv1", ascii_only).plain
        lines = lines.splitlines()
        assert lines[0].strip() == "weights of conv1"
        assert lines[-2].lstrip().startswith("+-" if ascii_only else "└─")
        values = [float(v) for v in lines[-1].split()]
        steps = {round(b - a, 6) for a, b in itertools.pairwise(values)}
        assert len(values) >= 3 and len(steps) == 1  # evenly spaced ...
        step = values[1] - values[0]
        assert all(abs(v / step - round(v / step)) < 1e-6 for v in values)  # ... at round values
        count_labels = [
            line.split("┤" if not ascii_only else "+")[0].strip()
            for line in lines[1:-2]
            if ("┤" if not ascii_only else "+") in line
        ]
        assert count_labels[-1] == "0" and len(count_labels) >= 2


def _band_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if "-----" in line]


def test_the_healthy_band_sits_on_rows_labelled_1e_4_and_1e_2():
    tiny = {"conv1": [(0.5, 1.0, 1e-11), (1.0, 1.0, 2e-11)], "fc": [(0.5, 1.0, 3e-3), (1.0, 1.0, 4e-3)]}
    # a digits job's blocks: 1e-7..1e-2, seven decades; the jobs screen at 80x24 draws 9 rows
    job = {"0": [(1, 1, 9e-6), (3, 1, 9.4e-6)], "1": [(1, 1, 9e-7), (3, 1, 9.2e-7)],
           "5": [(1, 1, 1e-3), (3, 1, 5.9e-5)]}
    for blocks in (tiny, job):
        for height in (9, 10, 12, 14, 20):
            text = render(draw_update_ratios, blocks, "braille", height, width=70, height=height,
                          color=False)
            labels = [row.split("┤")[0].strip() for row in _band_rows(text)]
            assert labels and set(labels) <= {"1e-2", "1e-4"}, (height, text)  # a curve may cover one
            ticks = [row.split("┤")[0].strip() for row in text.splitlines() if "┤" in row]
            assert {"1e-2", "1e-4"} <= set(ticks), text
            rows = [n for n, row in enumerate(text.splitlines()) if "┤" in row]
            assert len({b - a for a, b in itertools.pairwise(rows)}) == 1, text  # evenly spaced ticks
            assert not any(row.startswith("1e") for row in text.splitlines()[-3:]), text  # not on the x axis


async def test_in_ascii_a_cut_module_line_ends_with_dots_and_keeps_no_cut_number():
    app = PtmApp(workbench=make_workbench("resnet18"), ascii_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _explorer(pilot, "fc")
        line = next(row for row in screen_text(app).splitlines() if "Linear(in_features" in row)
        shown = line.split(" | ", 1)[1].rstrip()
        assert shown.endswith("..."), line  # the cut is marked, in ASCII
        assert "out_features=100," not in shown and not shown.endswith("=100"), line  # 1000 not read as 100
        assert "Linear(in_features=512, out_features=1000, bias=True)".startswith(shown.strip()[:-3])
