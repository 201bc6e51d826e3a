"""The catalog's plot drawn as text: sized to fit, titled with units, round log ticks, the cursor's
model named without covering a point, and `ptm-tui models --plot/--compare` for scripts."""

from __future__ import annotations

import json
import math
import re

import pytest

from engine.models.catalog import list_models
from engine.models.figures import model_plot
from tui.model_plot import ASCII_MARKS, UNICODE_MARKS, draw_model_plot, log_ticks

POINT_MARKS = {UNICODE_MARKS.point, UNICODE_MARKS.front}


@pytest.fixture(scope="module")
def plot():
    return model_plot(list_models(task="classification"))


def _cells(text) -> list[str]:
    return text.plain.split("\n")


@pytest.mark.parametrize("size", [(56, 20), (100, 31)])
def test_plot_fits_and_says_its_axes_and_units(plot, size):
    width, height = size
    lines = _cells(draw_model_plot(plot, width, height, cursor="resnet50"))
    assert len(lines) == height
    assert all(len(line) <= width for line in lines)
    assert lines[0].startswith("ImageNet-1K acc@1 (%)")
    assert "GFLOPs per image, log scale" in lines[-2]
    assert "Pareto frontier" in lines[-1]
    ticks = lines[-3].split()
    assert len(ticks) >= 3
    for label in ticks:  # round: 1, 2, 3 or 5 times a power of ten
        mantissa = float(label) / 10 ** math.floor(math.log10(float(label)))
        assert round(mantissa, 6) in (1, 2, 3, 5), label


def test_cursor_label_never_covers_a_point(plot):
    """For every model as the cursor: every point cell drawn without a cursor is still a point
    (or the cursor) with it, and the model's name is on screen."""
    width, height = 56, 20
    plain = _cells(draw_model_plot(plot, width, height))
    points = {(r, c) for r, line in enumerate(plain) for c, ch in enumerate(line) if ch in POINT_MARKS}
    assert len(points) > 40
    named = 0
    for point in plot.points:
        lines = _cells(draw_model_plot(plot, width, height, cursor=point.name))
        for r, c in points:
            assert lines[r][c] in POINT_MARKS | {UNICODE_MARKS.cursor}, (point.name, r, c)
        assert sum(line.count(UNICODE_MARKS.cursor) for line in lines[1:]) == 1
        label = f"{point.name} {point.value:.2f}%"
        assert any(label in line for line in lines), point.name
        named += any(label in line for line in lines[1:])  # beside its point, not in the title row
    assert named >= 0.9 * len(plot.points), "nearly every model finds room beside its point"


def test_cursor_sits_where_its_figures_put_it(plot):
    lines = _cells(draw_model_plot(plot, 100, 31, cursor="mobilenet_v3_small"))
    row = next(r for r, line in enumerate(lines) if UNICODE_MARKS.cursor in line)
    col = lines[row].index(UNICODE_MARKS.cursor)
    others = {p.name: p for p in plot.points}
    cheaper = [p for p in plot.points if p.cost < others["mobilenet_v3_small"].cost]
    # the cheapest models sit left of it, the most accurate far above it
    for p in cheaper:
        _, c = _where(plot, p.name)
        assert c <= col
    best_row, _ = _where(plot, max(plot.points, key=lambda p: p.value).name)
    assert best_row < row - 5


def _where(plot, name):
    lines = _cells(draw_model_plot(plot, 100, 31, cursor=name))
    row = next(r for r, line in enumerate(lines) if UNICODE_MARKS.cursor in line)
    return row, lines[row].index(UNICODE_MARKS.cursor)


def test_ascii_and_left_out_count():
    infos = list_models(task="detection")
    text = draw_model_plot(model_plot(infos), 80, 22, ascii_only=True).plain
    assert text.isascii()
    assert ASCII_MARKS.front in text
    assert "left out: 1 measured by kp_map" in text
    narrow = _cells(draw_model_plot(model_plot(infos), 50, 20))  # the key takes two lines
    assert len(narrow) == 20 and all(len(line) <= 50 for line in narrow)
    assert narrow[-2].startswith("• model") and narrow[-1].startswith("left out: 1 measured by kp_map")


def test_log_ticks_are_round_and_cover_the_values():
    lo, hi, ticks = log_ticks(0.04, 1016, 8)
    assert ticks == [0.1, 1, 10, 100, 1000]
    assert lo <= math.log10(0.04) and hi >= math.log10(1016)
    lo, hi, ticks = log_ticks(1.8, 11.5, 8)
    assert ticks == [2, 5, 10]
    lo, hi, ticks = log_ticks(0.3, 0.35, 8)  # inside one decade: widened to whole decades
    assert ticks[0] <= 0.3 and ticks[-1] >= 0.35 and len(ticks) >= 2


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `ptm-tui models ARGS` in this process; return (exit code, stdout, stderr)."""
    from tui.cli.main import main

    code = main(["models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_plot_and_compare(capsys):
    code, out, err = _cli(capsys, "--plot", "--filter", "resnet*")
    assert code == 0, err
    assert "ImageNet-1K acc@1 (%)" in out and "GFLOPs per image, log scale" in out
    assert "Pareto frontier" in out and re.search(r"\n  resnet18 +acc@1 69.758 at 1.81 GFLOPs\n", out)
    data = json.loads(_cli(capsys, "--plot", "--task", "detection", "--x", "params", "--json")[1])
    assert data["metric"] == "COCO-val2017 box_map" and data["cost"] == "params"
    code, out, err = _cli(capsys, "--compare", "resnet50", "vit_b_16", "efficientnet_b3")
    assert code == 0, err
    assert "fc: Linear(2048, 1000)" in out and "heads.head: Linear(768, 1000)" in out
    rows = [
        json.loads(line)
        for line in _cli(capsys, "--compare", "resnet50", "vit_b_16", "--json")[1].splitlines()
    ]
    assert [r["name"] for r in rows] == ["resnet50", "vit_b_16"]
    code, _, err = _cli(capsys, "--compare", "resnet50")
    assert code == 2 and "at least two" in err
    code, _, err = _cli(capsys, "--compare", "resnet50", "vit_b_16", "--plot")
    assert code == 2 and "--compare does not go with --plot" in err


def test_the_frontier_list_is_aligned_and_big_costs_read_whole(capsys):
    code, out, err = _cli(capsys, "--plot")
    assert code == 0, err
    front = out.split("cheapest first):\n", 1)[1].split("\n")
    front = front[: next(i for i, line in enumerate(front) if not line.startswith("  "))]
    assert len(front) >= 3 and len({line.index(" acc@1 ") for line in front}) == 1
    assert not any("e+" in line for line in front)
    assert re.search(r"vit_h_14 +acc@1 88.552 at 1,01\d GFLOPs", out)  # torchvision: 1016.72 GFLOPs


def test_a_plot_of_no_model_says_none_matches_instead_of_an_empty_frame(capsys):
    code, out, err = _cli(capsys, "--plot", "--filter", "zzz")
    assert code == 0 and out == ""  # as the table: nothing to draw, said on stderr
    assert "no model matches zzz" in err


@pytest.mark.parametrize("cost", ["gflops", "params", "size"])
def test_a_long_name_still_shows_its_value_when_it_finds_no_room(cost):
    """At 80 columns the plot is 56 cells wide: a detector's long name cut to fit keeps its value,
    the label stays inside the plot, and nothing is cut off at the edge."""
    detection = model_plot(list_models(task="detection"), cost=cost)
    for point in detection.points:
        lines = _cells(draw_model_plot(detection, 56, 20, cursor=point.name))
        value = f"{point.value:.2f} AP"
        assert any(value in line for line in lines), (point.name, lines)
        assert all(len(line) <= 56 for line in lines)
