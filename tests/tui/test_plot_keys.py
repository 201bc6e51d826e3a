"""The jobs screen's loss, accuracy and compare plots (issue 19.6): a key line under each plot
names every curve, no legend is drawn over the data, and the y ticks sit at even, round values."""

from __future__ import annotations

import itertools
import math
import re

import pytest
from conftest import ScreenApp, screen_text, wait_for
from test_jobs_layout import _jobs_ready, jobs_home  # noqa: F401 (a fixture)

from tui.screens.jobs.jobs import JobsScreen, MetricsPlot
from tui.widgets.insight_plots import RunsPlot

pytestmark = pytest.mark.timeout(120)


def _area(lines: list[str]) -> list[str]:
    """The plot's rows between its frame's top and bottom, the y labels cut off."""
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return [re.split("[┤│]", line, maxsplit=1)[-1] for line in lines[top + 1 : bottom]]


def _assert_even_round_ticks(lines: list[str]) -> None:
    """The labels left of the y axis are evenly spaced multiples of a 1, 2 or 5 times 10^k step."""
    values = [float(label) for label in re.findall(r"^ *(-?[\d.]+)┤", "\n".join(lines), re.MULTILINE)]
    assert len(values) >= 3, lines
    steps = {round(a - b, 9) for a, b in itertools.pairwise(values)}
    assert len(steps) == 1, values  # evenly spaced, top to bottom
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5), values
    assert all(abs(v / step - round(v / step)) < 1e-6 for v in values), values  # at round values
    rows = [i for i, line in enumerate(lines) if re.match(r"^ *-?[\d.]+┤", line)]
    assert len({b - a for a, b in itertools.pairwise(rows)}) == 1, lines  # evenly apart on screen


def _check(plot, names: list[str]) -> None:
    lines = plot.render().plain.splitlines()
    assert len(lines) == plot.size.height
    key = lines[-1]
    full = "key: " + " ".join(f"━{name}" for name in names)
    assert key == full or (key.endswith("…") and full.startswith(key[:-1])), key  # cut to the width
    assert key.count("━") == len(names)  # a coloured mark for every curve
    area = "\n".join(_area(lines))
    assert not any(name in area for name in names), area  # no legend over the data
    _assert_even_round_ticks(lines)


async def test_the_loss_and_accuracy_plots_have_a_key_line_and_round_ticks(jobs_home):  # noqa: F811
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(120, 35)) as pilot:
        await _jobs_ready(pilot)
        _check(app.screen.query_one("#jobs-loss", MetricsPlot), ["train (recent)", "val"])
        _check(app.screen.query_one("#jobs-acc", MetricsPlot), ["train", "val"])
        text = screen_text(app)
        assert "key: ━train (recent) ━val" in text and "key: ━train ━val" in text


async def test_the_compare_plots_have_a_key_line_and_round_ticks(jobs_home):  # noqa: F811
    screen = JobsScreen()
    app = ScreenApp(screen)
    async with app.run_test(size=(120, 35)) as pilot:
        await _jobs_ready(pilot)
        await pilot.press("space", "k", "space", "c")
        runs = screen.query_one("#jobs-runs-acc", RunsPlot)
        await wait_for(pilot, lambda: runs.display and len(runs.curves) == 2)
        await pilot.pause(0.2)
        labels = [curve.label for curve in runs.curves]
        _check(runs, labels)
        _check(screen.query_one("#jobs-runs-loss", RunsPlot), labels)
        text = screen_text(app)  # each half is too narrow for both job ids: the key is cut with …
        assert text.count(f"key: ━{labels[0]} ━") == 2 and f"comparing (c: back): {labels[0]}" in text
