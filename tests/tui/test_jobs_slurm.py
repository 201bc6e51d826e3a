"""The Jobs screen on a job that a real Slurm holds: its Slurm state and reason, and x cancelling it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ScreenApp, screen_text, wait_for

from engine.edit.recipe import load
from engine.jobs.launch import create_job
from engine.jobs.store import job_info
from tui.screens.jobs.jobs import JobsScreen

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))  # finetune_helpers
from finetune_helpers import write_recipe, write_tiny

try:
    from tests.helpers.slurm_up import need_slurm
except ImportError:  # tests/ itself is on sys.path
    from helpers.slurm_up import need_slurm

pytestmark = pytest.mark.timeout(120)


async def test_a_waiting_slurm_job_shows_its_reason_and_x_cancels_it(home, tmp_path, digits):
    need_slurm()
    from engine.jobs.slurm.options import options_from
    from engine.jobs.slurm.submit import submit

    train = {"data": str(digits), "image_size": 12, "epochs": 1, "workers": 0}
    job_dir = create_job(load(write_recipe(tmp_path / "r.toml", write_tiny(tmp_path), train)))
    job = submit(job_dir, options_from({"cpus_per_task": 64}, {}))  # more CPUs than any node here
    try:
        app = ScreenApp(JobsScreen())
        async with app.run_test(size=(130, 44)) as pilot:
            await wait_for(pilot, lambda: f"Slurm job {job.job_id} PENDING (" in screen_text(app))
            assert f"{job_dir.name}: queued" in screen_text(app)
            await pilot.press("x")
            await wait_for(pilot, lambda: "cancelled while waiting" in screen_text(app), timeout=30)
            await wait_for(pilot, lambda: f"{job.job_id} CANCELLED" in screen_text(app), timeout=30)
        assert job_info(job_dir).status == "stopped"
    finally:
        subprocess.run(["scancel", job.job_id], capture_output=True)
