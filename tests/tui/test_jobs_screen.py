"""The Jobs screen and the launch form, driven with Textual's Pilot against real job processes."""

from __future__ import annotations

import os
import re
import signal

import pytest
from conftest import ScreenApp, make_workbench, screen_text, wait_for
from textual.widgets import DataTable, Input

from engine.edit.recipe import load
from engine.jobs.launch import create_job, launch
from engine.jobs.store import job_info, list_jobs, pid_alive
from engine.train.sample_data import write_digits
from tui.screens.jobs.jobs import JobsScreen, MetricsPlot
from tui.screens.train.launch import LaunchScreen

SIZE = (130, 44)
pytestmark = pytest.mark.timeout(300)




@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("data") / "digits", size=12, limit=200)


def _recipe(tmp_path, digits, epochs):
    model = tmp_path / "small.py"
    model.write_text(
        "from torch import nn\n\n\n"
        "def small(num_classes=10):\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[model]\nname = "{model}:small"\n\n[train]\ndata = "{digits}"\n'
                      f'image_size = 12\nepochs = {epochs}\nworkers = 0\nlr = 0.05\n'
                      f'backbone_lr = 0.05\nbatch_size = 16\n')
    return load(recipe)


def _kill(job_dir) -> None:
    info = job_info(job_dir)
    if info.active and info.pid:
        os.killpg(info.pid, signal.SIGKILL)


async def test_jobs_screen_follows_a_running_job_and_stops_it(home, tmp_path, digits):
    job_dir = create_job(_recipe(tmp_path, digits, epochs=200))
    proc = launch(job_dir)
    try:
        app = ScreenApp(JobsScreen())
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: job_info(job_dir).epoch >= 2, timeout=120)
            screen = app.screen
            await wait_for(pilot, lambda: "running" in screen_text(app), timeout=10)
            table = screen.query_one(DataTable)
            assert table.row_count == 1
            assert screen.selected == job_dir.name
            await wait_for(pilot, lambda: len(screen.view.epochs) >= 2, timeout=10)
            loss = screen.query_one("#jobs-loss", MetricsPlot)
            acc = screen.query_one("#jobs-acc", MetricsPlot)
            assert loss.series[0][1] and len(acc.series[1][2]) >= 2
            # the log tail: the newest epoch lines (a fast job is past epoch 1 by now)
            await wait_for(pilot, lambda: any(int(n) >= 2 for n in
                                              re.findall(r"epoch (\d+):", screen_text(app))))
            await pilot.press("x")
            await wait_for(pilot, lambda: "stopped" in screen_text(app), timeout=60)
        assert proc.wait(timeout=30) == 0
        assert job_info(job_dir).status == "stopped"
    finally:
        _kill(job_dir)


async def test_closing_the_tui_leaves_the_job_running_and_a_new_one_sees_it(
        home, tmp_path, digits):
    job_dir = create_job(_recipe(tmp_path, digits, epochs=200))
    launch(job_dir)
    try:
        async with ScreenApp(JobsScreen()).run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: job_info(job_dir).status == "running", timeout=120)
        info = job_info(job_dir)
        assert info.status == "running" and pid_alive(info.pid)
        app = ScreenApp(JobsScreen())
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "running" in screen_text(app), timeout=20)
            assert job_dir.name[:20] in screen_text(app)
    finally:
        _kill(job_dir)


async def test_a_dead_job_is_shown_honestly(home, tmp_path, digits):
    job_dir = create_job(_recipe(tmp_path, digits, epochs=200))
    proc = launch(job_dir)
    try:
        await_running = job_info
        import time

        deadline = time.monotonic() + 120
        while await_running(job_dir).status != "running" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _kill(job_dir)
    proc.wait()
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "process died" in screen_text(app), timeout=20)


async def test_launch_form_shows_groups_and_starts_the_workbench_as_a_job(home, digits):
    workbench = make_workbench("resnet18")
    workbench.apply({"op": "replace_head", "num_classes": 10})
    workbench.apply({"op": "freeze", "target": "layer1"})
    app = ScreenApp(LaunchScreen(workbench))
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            groups = screen.query_one("#launch-groups", DataTable)
            await wait_for(pilot, lambda: groups.row_count > 0, timeout=10)
            text = screen_text(app)
            assert "head weights" in text and "backbone weights" in text
            assert "layer1" not in " ".join(str(c) for c in groups.get_row_at(2))
            screen.query_one("#launch-lr", Input).value = "0.1"
            await pilot.pause(0.2)
            assert [str(groups.get_row_at(i)[4]) for i in (0, 2)] == ["0.1", "0.01"]
            screen.query_one("#launch-epochs", Input).value = "x"
            await pilot.pause(0.2)
            assert "epochs" in screen_text(app) and screen.table is None
            screen.query_one("#launch-epochs", Input).value = "50"
            screen.query_one("#launch-data", Input).value = str(digits)
            screen.query_one("#launch-image_size", Input).value = "16"
            await pilot.pause(0.2)
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), timeout=20)
            jobs = list_jobs()
            assert len(jobs) == 1
            recipe = load(os.path.join(jobs[0].dir, "spec.toml"))
            assert [e["op"] for e in recipe.edits] == ["replace_head", "freeze"]
            assert recipe.train["lr"] == 0.1 and recipe.train["epochs"] == 50
    finally:
        for info in list_jobs():
            wait_deadline = 0
            while job_info(info.dir).status == "queued" and wait_deadline < 100:
                import time

                time.sleep(0.1)
                wait_deadline += 1
            _kill(info.dir)


async def test_explorer_keys_open_the_launch_form_and_the_jobs_screen(home, resnet18_workbench):
    from tui.app import PtmApp

    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExplorerScreen")
        await pilot.pause(0.3)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        assert "resnet18" in screen_text(app) and "head weights" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExplorerScreen")
        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        await wait_for(pilot, lambda: "no jobs yet" in screen_text(app))
