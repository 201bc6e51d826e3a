"""`e` on the jobs screen evaluates a job trained on one folder split by val_split on the part
that training held out (it said "no val/ folder" and evaluated nothing)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torchvision
from conftest import ScreenApp, screen_text, wait_for, write_small_cnn
from textual.widgets import DataTable

pytestmark = pytest.mark.timeout(300)


async def test_e_evaluates_a_val_split_job_on_the_images_its_training_held_out(tmp_path, monkeypatch):
    from engine.edit.recipe import load
    from engine.jobs.launch import create_job, launch
    from engine.jobs.store import job_info
    from engine.train.sample_data import write_digits
    from tui.screens.jobs.job_eval import JobEvalScreen
    from tui.screens.jobs.jobs import JobsScreen

    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = write_digits(tmp_path / "digits", size=12, limit=100)  # one folder, no val/
    model = write_small_cnn(tmp_path)
    (tmp_path / "r.toml").write_text(
        f'[model]\nname = "{model}"\n\n[train]\ndata = "{data}"\nimage_size = 12\n'
        f'epochs = 1\nworkers = 0\nlr = 0.05\nbatch_size = 16\nval_split = 0.3\nseed = 7\n')
    job_dir = create_job(load(tmp_path / "r.toml"))
    launch(job_dir).wait(timeout=240)
    assert job_info(job_dir).status == "done"
    # the reference: torchvision's ImageFolder order, the held-out 30% of a randperm seeded 7
    samples = torchvision.datasets.ImageFolder(str(data)).samples
    order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(7)).tolist()
    held = Counter(samples[i][1] for i in order[: round(len(samples) * 0.3)])

    app = ScreenApp(JobsScreen(), trust_code=True)  # the job's recipe names small.py
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, JobEvalScreen)
                       and (app.screen.result is not None or "cannot" in screen_text(app)), timeout=120)
        assert app.screen.result is not None, screen_text(app)
        result = app.screen.result
        assert [sum(row) for row in result["confusion"]] == [held[c] for c in range(10)]
        assert result["images"] == round(len(samples) * 0.3)
        summary = str(app.screen.query_one("#eval-summary").render())
        assert f"on {data} (30% held out, seed 7): accuracy {result['accuracy']:.2f}%" in summary
