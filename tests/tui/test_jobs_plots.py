"""The jobs screen's plots (issue 19): moving between jobs in the layers view never ends the app,
and the learning plot says what the CLI says, on job folders written the way the runner writes
them."""

from __future__ import annotations

import json

import pytest
from conftest import ScreenApp, screen_text, wait_for
from textual.widgets import DataTable

from tui.screens.jobs.jobs import JobsScreen
from tui.widgets.insight_plots import LearningPlot

pytestmark = pytest.mark.timeout(120)

BLOCKS = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc")
RATIOS = {
    "conv1": 2e-6,
    "bn1": 3e-4,
    "layer1": 5e-6,
    "layer2": 4e-6,
    "layer3": 3e-6,
    "layer4": 2e-6,
    "fc": 2e-3,
}
"""Update ratios as a finetune of resnet18 shows them: the convolutions below 1e-4 (slow)."""


def write_job(root, job: str, status: str, created: float, layers: bool) -> None:
    """A job folder: status.json, and with `layers` two epochs of metrics with layer records."""
    folder = root / "jobs" / job
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "spec.toml").write_text('[model]\nname = "resnet18"\n')
    records = []
    for epoch in (1, 2) if layers else ():
        records.append({"kind": "step", "epoch": epoch, "step": 10, "steps": 20, "loss": 1.0 / epoch})
        blocks = {
            name: {
                "trainable": True,
                "grad_norm": 0.5,
                "weight_norm": 10.0,
                "update_ratio": ratio * epoch,
                "frozen_moved": False,
            }
            for name, ratio in RATIOS.items()
        }
        records.append({"kind": "layers", "epoch": epoch, "step": 10, "blocks": blocks, "flags": []})
        records.append(
            {
                "kind": "epoch",
                "epoch": epoch,
                "train_loss": 1.0,
                "train_acc": 50.0,
                "val_loss": 1.1,
                "val_acc": 48.0,
            }
        )
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "log.txt").write_text("12:00:00 started\n")
    (folder / "status.json").write_text(
        json.dumps(
            {
                "job": job,
                "status": status,
                "model": "resnet18",
                "epoch": 2 if layers else 0,
                "epochs": 2,
                "created": created,
                "message": "finished 2 epochs" if layers else "failed",
            }
        )
    )


@pytest.fixture
def two_jobs(tmp_path, monkeypatch):
    """A finished job with layer measurements, and a newer one that failed before any."""
    home = tmp_path / "home"
    monkeypatch.setenv("PTM_HOME", str(home))
    write_job(home, "20261207-100000-resnet18-done", "done", 1000.0, layers=True)
    write_job(home, "20261207-110000-resnet18-failed", "failed", 2000.0, layers=False)
    return home


async def test_moving_from_a_job_with_layer_data_to_one_without_keeps_the_app(two_jobs):
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
        screen = app.screen
        await pilot.press("k", "l")  # the finished job, its layers view (log scale)
        plot = screen.query_one(LearningPlot)
        await wait_for(pilot, lambda: bool(plot.blocks))
        await pilot.pause(0.2)
        await pilot.press("j")  # the failed job: nothing to draw on the log scale
        await wait_for(pilot, lambda: not plot.blocks and screen.selected.endswith("failed"))
        await wait_for(pilot, lambda: "no per-layer measurement yet" in screen_text(app))
        await pilot.press("k")  # and back: the log scale is drawn again
        await wait_for(pilot, lambda: bool(plot.blocks))
        await pilot.pause(0.2)
        assert app.is_running and "update / weight" in screen_text(app)


async def test_the_layers_view_has_a_key_under_the_plot_and_the_cli_bands(two_jobs, capsys):
    from tui.cli.main import main

    assert main(["layers", "20261207-100000-resnet18-done"]) == 0
    cli = capsys.readouterr().out
    slow_in_cli = [line.split()[0] for line in cli.splitlines() if line.endswith("  slow")]
    assert slow_in_cli == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert "key: conv1 (cyan), bn1 (dark_orange)" in cli
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
        await pilot.press("k", "l")
        await wait_for(pilot, lambda: "slow (<1e-4)" in screen_text(app))
        text = screen_text(app)
        assert f"slow (<1e-4): {', '.join(slow_in_cli)}" in text  # the CLI's verdict, not "no flags" alone
        key = next(line for line in text.splitlines() if "key:" in line)
        assert all(f"━{name}" in key for name in BLOCKS)  # a key line, not a legend on the data
        plot_rows = text.splitlines()[: text.splitlines().index(key)]
        assert not any("conv1" in row for row in plot_rows if "┤" in row or "│" in row)


async def test_e_on_a_job_that_failed_before_a_checkpoint_says_so_and_suggests_no_resume(two_jobs):
    from tui.screens.jobs.job_eval import JobEvalScreen

    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
        await wait_for(pilot, lambda: app.screen.selected.endswith("failed"))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, JobEvalScreen)
                       and "cannot evaluate" in screen_text(app))
        text = " ".join(screen_text(app).split())
        # it said "ValueError: its data has no val/ folder ... run `ptm-tui eval JOB --data DIR`"
        assert "has no checkpoint yet" in text and "failed before saving one" in text, text
        assert "resume" not in text and "Error:" not in text and "--data" not in text, text


async def test_the_compare_key_names_every_run_by_what_differs_at_80_columns(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PTM_HOME", str(home))
    runs = (("20261207-100000-resnet18-a", 1000.0, 0.1), ("20261207-110000-resnet18-b", 2000.0, 0.05))
    for job, created, lr in runs:
        write_job(home, job, "done", created, layers=True)
        (home / "jobs" / job / "spec.toml").write_text(f'[model]\nname = "resnet18"\n\n[train]\nlr = {lr}\n')
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
        await wait_for(pilot, lambda: app.screen.selected.endswith("-b"))
        for key in ("space", "k", "space", "c"):
            await pilot.press(key)
            await pilot.pause(0.2)
        await wait_for(pilot, lambda: "comparing" in screen_text(app))
        keys = [line for line in screen_text(app).splitlines() if "key:" in line]
        # it read "key: ━20261207-110000-resnet18-b: lr=0.…": one run named, its lr cut
        assert keys and all("lr=0.1" in line and "lr=0.05" in line for line in keys), keys


async def test_help_on_the_jobs_screen_has_no_freeze_marks_legend(two_jobs, no_cache_no_keymap):
    from tui.app import PtmApp
    from tui.screens.help import HelpScreen

    app = PtmApp()  # the catalog; J opens the jobs screen, ? its help
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CatalogScreen", timeout=60)
        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen)
                       and app.screen.query_one(DataTable).row_count == 2)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("G")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "escape or ? closes this help" in text, text
        assert "partly frozen" not in text  # the explorer tree's marks, listed on every screen
