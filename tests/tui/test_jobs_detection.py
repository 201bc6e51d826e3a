"""The jobs screen on a detection job: its epochs (no train accuracy, no validation loss) are
plotted under the task's score, not dropped as unreadable."""

from __future__ import annotations

import json

import pytest
from conftest import ScreenApp, screen_text, wait_for
from textual.widgets import DataTable

from engine.jobs.store import metrics_file
from tui.screens.jobs.jobs import JobsScreen, MetricsPlot

pytestmark = pytest.mark.timeout(120)
JOB = "20261207-120000-fasterrcnn-done"


def _write_job(home, job: str, lr: float):
    """A finished detection job's folder, its metrics as the loop writes them for a detector."""
    folder = home / "jobs" / job
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "spec.toml").write_text(f'[model]\nname = "fasterrcnn_resnet50_fpn"\n\n[train]\nlr = {lr}\n')
    records = [{"kind": "step", "epoch": e, "step": 4, "steps": 4, "loss": 2.0 / e} for e in (1, 2)]
    records += [
        {
            "kind": "epoch",
            "epoch": e,
            "train_loss": 2.0 / e,
            "train_loss_classifier": 0.5,
            "val_loss": None,
            "val_acc": 10.0 * e * lr,
            "val_bbox_map": 0.1 * e * lr,
            "score": "box mAP",
        }
        for e in (1, 2)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "log.txt").write_text("12:00:00 started\n")
    (folder / "status.json").write_text(
        json.dumps(
            {
                "job": job,
                "status": "done",
                "model": "fasterrcnn_resnet50_fpn",
                "epoch": 2,
                "epochs": 2,
                "created": 1000.0,
                "best_val_acc": 20.0 * lr,
                "message": "finished 2 epochs",
            }
        )
    )
    return folder


@pytest.fixture
def detection_job(tmp_path, monkeypatch):
    """One finished detection job in a fresh $PTM_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("PTM_HOME", str(home))
    return _write_job(home, JOB, 1.0)


def test_a_detectors_epoch_records_are_read(detection_job):
    found = metrics_file(detection_job)
    assert found.skipped == 0, found.why
    assert [r["epoch"] for r in found.records if r["kind"] == "epoch"] == [1, 2]


async def test_the_jobs_screen_plots_a_detection_jobs_box_map(detection_job):
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(130, 44)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1)
        plot = app.screen.query_one("#jobs-acc", MetricsPlot)
        await wait_for(pilot, lambda: bool(plot.series) and bool(plot.series[1][1]))
        assert plot.title == "box mAP (%)"
        assert plot.series == [("train", [], []), ("val", [1.0, 2.0], [10.0, 20.0])]
        loss = app.screen.query_one("#jobs-loss", MetricsPlot)
        assert loss.series[1] == ("val", [], [])  # no validation loss to draw, and no crash
        assert app.is_running and "box mAP" in screen_text(app)


def test_compare_draws_two_detection_jobs_map_curves(detection_job):
    from engine.jobs.compare import compare_runs

    other = _write_job(detection_job.parent.parent, "20261207-130000-fasterrcnn-done", 2.0)
    curves = compare_runs([detection_job.name, other.name])
    assert [c.epochs for c in curves] == [[1, 2], [1, 2]]
    assert [c.val_acc for c in curves] == [[10.0, 20.0], [20.0, 40.0]]
    assert [c.settings for c in curves] == [{"train.lr": 1.0}, {"train.lr": 2.0}]
