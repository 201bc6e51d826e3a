"""The jobs screen on a detection job: its epochs (no train accuracy, no validation loss) are
plotted under the task's score, not dropped as unreadable."""

from __future__ import annotations

import json

import pytest
from conftest import ScreenApp, screen_text, wait_for
from textual.widgets import DataTable

from engine.jobs.store import metrics_file
from tui.screens.jobs import JobsScreen, MetricsPlot

pytestmark = pytest.mark.timeout(120)
JOB = "20261207-120000-fasterrcnn-done"


@pytest.fixture
def detection_job(tmp_path, monkeypatch):
    """A finished detection job's folder, its metrics as the loop writes them for a detector."""
    home = tmp_path / "home"
    monkeypatch.setenv("PTM_HOME", str(home))
    folder = home / "jobs" / JOB
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "spec.toml").write_text('[model]\nname = "fasterrcnn_resnet50_fpn"\n')
    records = [{"kind": "step", "epoch": e, "step": 4, "steps": 4, "loss": 2.0 / e} for e in (1, 2)]
    records += [
        {
            "kind": "epoch",
            "epoch": e,
            "train_loss": 2.0 / e,
            "train_loss_classifier": 0.5,
            "val_loss": None,
            "val_acc": 10.0 * e,
            "val_bbox_map": 0.1 * e,
            "score": "box mAP",
        }
        for e in (1, 2)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "log.txt").write_text("12:00:00 started\n")
    (folder / "status.json").write_text(
        json.dumps(
            {
                "job": JOB,
                "status": "done",
                "model": "fasterrcnn_resnet50_fpn",
                "epoch": 2,
                "epochs": 2,
                "created": 1000.0,
                "best_val_acc": 20.0,
                "message": "finished 2 epochs",
            }
        )
    )
    return folder


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
