"""The launch form's "run on" choice (issue 22): Slurm is offered only where `sbatch` is on PATH,
its fields are checked by the CLI's own code, and launching submits the job with sbatch."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from conftest import ScreenApp, form_error, make_workbench, screen_text, wait_for
from textual.widgets import Input, Select

from tui.screens.train.launch import LaunchScreen

try:
    from tests.helpers.cli import ptm
    from tests.helpers.slurm_up import need_slurm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm
    from helpers.slurm_up import need_slurm

pytestmark = pytest.mark.timeout(120)


def _fake_sbatch(tmp_path, body: str = "echo 4242") -> str:
    """A folder holding an `sbatch` script that runs `body`; return PATH with it first."""
    folder = tmp_path / "fake-slurm"
    folder.mkdir()
    sbatch = folder / "sbatch"
    sbatch.write_text(f"#!/bin/sh\n{body}\n")
    sbatch.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


async def _open_run_and_device(pilot) -> None:
    """Open the form's "Run & device" section (collapsed at first) as a user does: its title, Enter."""
    from textual.widgets._collapsible import CollapsibleTitle

    pilot.app.screen.query_one("#section-run-device").query_one(CollapsibleTitle).focus()
    await pilot.press("enter")
    await pilot.pause(0.2)


@asynccontextmanager
async def _launch_form(size: tuple[int, int] = (100, 40), **fields: str) -> AsyncIterator[tuple]:
    """Open the launch form on resnet18 with a 10-class head and its Run & device section; fill
    `fields` (id suffix -> value: run_on picks the Select, the rest are Inputs); yield (app, pilot, form)."""
    workbench = make_workbench("resnet18")
    workbench.apply({"op": "replace_head", "num_classes": 10})
    app = ScreenApp(LaunchScreen(workbench))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await _open_run_and_device(pilot)
        form = app.screen
        for name, value in fields.items():
            form.query_one(f"#launch-{name}", Select if name == "run_on" else Input).value = value
        yield app, pilot, form


async def test_run_on_is_not_shown_without_sbatch_on_path(tmp_path, monkeypatch):
    empty = tmp_path / "no-slurm"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    async with _launch_form(size=(100, 100)) as (app, pilot, _):  # tall: the whole form shows
        await pilot.pause(0.2)
        assert not app.screen.query("#launch-run_on") and not app.screen.query("#launch-slurm")
        assert "run on" not in screen_text(app) and "processes" in screen_text(app)


async def test_run_on_slurm_shows_its_fields_when_sbatch_is_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_sbatch(tmp_path))
    async with _launch_form(size=(100, 100)) as (app, pilot, form):  # tall: the whole form shows
        choice = form.query_one("#launch-run_on", Select)
        assert choice.value == "here" and "run on" in screen_text(app)
        assert "Slurm partition" not in screen_text(app)  # only once Slurm is chosen
        choice.value = "slurm"
        await wait_for(pilot, lambda: "Slurm partition" in screen_text(app))
        assert "GPUs per node" in screen_text(app) and "memory per node" in screen_text(app)
        choice.value = "here"
        await wait_for(pilot, lambda: "Slurm partition" not in screen_text(app))


async def test_slurm_fields_are_checked_with_the_clis_words(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_sbatch(tmp_path))
    fields = {"data": str(tmp_path), "run_on": "slurm", "slurm_partition": "gpu;reboot"}
    async with _launch_form(**fields) as (app, pilot, form):
        await wait_for(pilot, lambda: "is not valid" in form_error(form))
        assert "Slurm partition 'gpu;reboot' is not valid" in form_error(form)
        assert "letters, digits" in form_error(form)
        await pilot.press("ctrl+l")  # refused before any job folder exists
        await wait_for(pilot, lambda: "not launched: Slurm partition" in form_error(form))
        assert app.screen is form
        form.query_one("#launch-slurm_partition", Input).value = "gpu"
        form.query_one("#launch-slurm_time", Input).value = "30"  # minutes, as sbatch takes it
        await wait_for(pilot, lambda: "not valid" not in form_error(form) and "not a" not in form_error(form))
        form.query_one("#launch-slurm_nodes", Input).value = "two"
        await wait_for(pilot, lambda: "Slurm nodes must be a whole number" in form_error(form))
        form.query_one("#launch-slurm_nodes", Input).value = ""
        form.query_one("#launch-slurm_mem", Input).value = "lots"
        await wait_for(pilot, lambda: "Slurm mem 'lots' is not an amount of memory" in form_error(form))


async def test_an_sbatch_refusal_shows_slurms_words_in_the_form(tmp_path, monkeypatch, home, digits):
    from engine.jobs.store import jobs_root

    refusal = "sbatch: error: invalid partition specified: nope"
    monkeypatch.setenv("PATH", _fake_sbatch(tmp_path, f"echo '{refusal}' >&2; exit 1"))
    fields = {"data": str(digits), "image_size": "12", "run_on": "slurm", "slurm_partition": "nope"}
    async with _launch_form(**fields) as (app, pilot, form):
        await pilot.pause()
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "not launched" in form_error(form), timeout=60)
        assert "sbatch refused the job" in form_error(form) and refusal in form_error(form)
        assert app.screen is form and not list(jobs_root().glob("*"))  # no half-made job left
        form.query_one("#launch-slurm_partition", Input).value = "debug"  # the form still works
        await wait_for(pilot, lambda: "not launched" not in form_error(form))


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_launching_on_slurm_submits_a_job_with_the_slurm_backend(home, digits):
    need_slurm()
    from tui.screens.jobs.jobs import JobsScreen

    fields = {"data": str(digits), "image_size": "12", "epochs": "1", "run_on": "slurm", "slurm_time": "10"}
    job = None
    try:
        async with _launch_form(**fields) as (app, pilot, form):
            await pilot.pause()
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), timeout=90)
            job = form.launched
        status = json.loads((home / "jobs" / job / "status.json").read_text())
        assert status["backend"] == "slurm" and status["slurm_job_id"].isdigit()
        assert status["slurm"]["time"] == "10"
        assert (home / "jobs" / job / "slurm.sbatch").is_file()
    finally:
        if job is not None:
            ptm("stop", job, timeout=120)
