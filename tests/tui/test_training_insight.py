"""`ptm-tui layers JOB` and `ptm-tui compare JOB...` on real jobs trained by `ptm-tui finetune`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import write_recipe, write_tiny

from engine.train.sample_data import write_digits

pytestmark = pytest.mark.timeout(400)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PTM_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_jobs(tmp_path_factory) -> Path:
    """Two finished jobs: lr 0.01 with everything training, lr 0.003 with `features` frozen."""
    folder = tmp_path_factory.mktemp("runs")
    digits = write_digits(folder / "digits", size=12, limit=300)
    model = write_tiny(folder)
    train = {"data": str(digits), "image_size": 12, "batch_size": 32, "epochs": 2, "workers": 0,
             "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01, "diagnostics_every": 2}
    fast = write_recipe(folder / "fast.toml", model, train)
    frozen = write_recipe(folder / "frozen.toml", model, {**train, "lr": 0.003},
                          edits=[{"op": "replace_head", "num_classes": 10},
                                 {"op": "freeze", "target": "features"}])
    home = folder / "home"
    for recipe, job in ((fast, "fast"), (frozen, "frozen")):
        done = _cli(home, "finetune", str(recipe), "--job-id", job, "--json")
        assert done.returncode == 0, done.stderr[-2000:]
    return home


def test_layers_json_has_every_block_and_marks_the_frozen_one(two_jobs):
    fast = _cli(two_jobs, "layers", "fast", "--json")
    assert fast.returncode == 0, fast.stderr
    latest = json.loads(fast.stdout)["latest"]
    assert latest["kind"] == "layers" and latest["epoch"] == 2
    assert set(latest["blocks"]) == {"features", "fc"}
    assert all(row["trainable"] and row["grad_norm"] > 0 for row in latest["blocks"].values())
    frozen = json.loads(_cli(two_jobs, "layers", "frozen", "--json").stdout)
    assert frozen["latest"]["blocks"]["features"] == {"trainable": False, "frozen_moved": False}
    assert frozen["flags"] == []


def test_layers_human_output_shows_the_table_the_plot_and_the_verdict(two_jobs):
    shown = _cli(two_jobs, "layers", "frozen")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(line.split()[:2] == ["features", "frozen"] for line in lines)
    assert any(line.startswith("fc ") for line in lines)
    assert "healthy band 1e-4..1e-2" in shown.stdout and "no flags" in shown.stdout


def test_compare_labels_each_run_by_what_differs(two_jobs):
    runs = [json.loads(line) for line in _cli(two_jobs, "compare", "fast", "frozen", "--json")
            .stdout.splitlines()]
    assert [run["job"] for run in runs] == ["fast", "frozen"]
    assert runs[0]["settings"] == {"train.lr": 0.01, "frozen": []}
    assert runs[1]["settings"] == {"train.lr": 0.003, "frozen": ["features"]}
    assert runs[1]["label"] == "frozen: lr=0.003, frozen=features"
    for run in runs:  # the curves are the jobs' own epoch records
        metrics = [json.loads(line) for line in
                   (two_jobs / "jobs" / run["job"] / "metrics.jsonl").read_text().splitlines()]
        epochs = [m for m in metrics if m["kind"] == "epoch"]
        assert run["epochs"] == [1, 2] and run["val_acc"] == [m["val_acc"] for m in epochs]


def test_compare_needs_two_jobs(two_jobs):
    alone = _cli(two_jobs, "compare", "fast")
    assert alone.returncode == 2 and "at least two jobs" in alone.stderr


# --- the jobs screen: l shows how each layer learns, space + c compare runs --------------------

async def test_jobs_screen_shows_each_block_learning_and_compares_marked_runs(two_jobs, monkeypatch):
    from conftest import ScreenApp, wait_for
    from textual.widgets import DataTable, Static

    from tui.screens.jobs.jobs import JobsScreen
    from tui.widgets.insight_plots import LearningPlot, RunsPlot

    monkeypatch.setenv("PTM_HOME", str(two_jobs))
    screen = JobsScreen(select="frozen")
    app = ScreenApp(screen)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await wait_for(pilot, lambda: screen.query_one(DataTable).row_count == 2)
        message = screen.query_one("#jobs-message", Static)

        await pilot.press("l")
        plot = screen.query_one(LearningPlot)
        await wait_for(pilot, lambda: plot.display and plot.blocks)
        assert set(plot.blocks) == {"fc"}  # features is frozen in this job: nothing to plot
        await wait_for(pilot, lambda: "frozen: features" in str(message.render()))
        assert "no flags" in str(message.render())
        assert not screen.query_one("#jobs-loss").display

        await pilot.press("l", "c")  # back to loss; c with nothing marked says what to do
        assert any("mark two or more jobs" in n.message for n in app._notifications)
        await pilot.press("space", "k", "space")  # mark frozen, then fast
        await wait_for(pilot, lambda: screen.marked == ["frozen", "fast"])
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: all(str(table.get_row_at(i)[0]).startswith("* ")
                                          for i in range(2)))
        await pilot.press("c")
        runs = screen.query_one("#jobs-runs-acc", RunsPlot)
        await wait_for(pilot, lambda: runs.display and len(runs.curves) == 2)
        assert [c.label for c in runs.curves] == ["frozen: lr=0.003, frozen=features",
                                                   "fast: lr=0.01, frozen=[]"]
        metrics = [json.loads(line) for line in
                   (two_jobs / "jobs" / "fast" / "metrics.jsonl").read_text().splitlines()]
        assert runs.curves[1].val_acc == [m["val_acc"] for m in metrics if m["kind"] == "epoch"]
        await wait_for(pilot, lambda: "comparing" in str(message.render()))


# --- the launch form: ctrl+f runs the range test, Enter takes its suggestion --------------------

async def test_launch_form_finds_an_lr_and_enter_puts_it_in_the_field(tmp_path, one_thread):
    from conftest import ScreenApp, wait_for
    from finetune_helpers import tiny_net
    from textual.widgets import Input, Static

    from engine.edit.workbench import Workbench
    from tui.screens.train.launch import LaunchScreen
    from tui.screens.train.lr_find import LrFindScreen, LrPlot

    digits = write_digits(tmp_path / "digits", size=12, limit=300)
    workbench = Workbench(model=tiny_net(), name="tiny")
    form = LaunchScreen(workbench, {"image_size": 12, "batch_size": 32, "optimizer": "adam",
                                    "lr": 0.01})

    app = ScreenApp(form)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.screen is form)
        await pilot.press("ctrl+f")  # no data folder yet: it says what is missing
        assert any("give a data folder first" in n.message for n in app._notifications)
        form.query_one("#launch-data", Input).value = str(digits)
        await pilot.pause(0.3)
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, LrFindScreen))
        finder = app.screen
        await wait_for(pilot, lambda: finder.result is not None, timeout=240)
        result = finder.result
        assert result.suggestion is not None and result.losses[-1] > min(result.losses)
        await pilot.pause(0.2)
        assert finder.query_one(LrPlot).suggestion == result.suggestion  # the curve is marked
        status = str(finder.query_one("#lr-status", Static).render())
        assert f"suggested lr {result.suggestion:.2e}" in status and "min/10 rule" in status
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is form)
        assert form.query_one("#launch-lr", Input).value == f"{result.suggestion:.3g}"
