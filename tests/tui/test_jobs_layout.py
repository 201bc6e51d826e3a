"""The Jobs screen's layout and keys (issue 12) and the launch form's focus and quit (issue 11),
on job folders written the way the runner writes them, at 80x24 and 120x35."""

from __future__ import annotations

import json
import os

import pytest
from conftest import ScreenApp, form_error, make_workbench, screen_text, wait_for, write_small_cnn
from textual.widgets import DataTable, Input, RichLog, Select

from tui.screens.jobs.jobs import JobsScreen
from tui.screens.train.launch import LaunchScreen, QuitDialog

pytestmark = pytest.mark.timeout(120)




def _write_job(root, job, status, epochs, log_lines, bad=0):
    folder = root / "jobs" / job
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "spec.toml").write_text('[model]\nname = "resnet18"\n')
    records = []
    for epoch in range(1, epochs + 1):
        for step in range(1, 5):
            records.append({"kind": "step", "epoch": epoch, "step": step * 5, "steps": 20,
                            "loss": 2.3 / (epoch + step / 4)})
        records.append({"kind": "epoch", "epoch": epoch, "train_loss": 2.0 / epoch,
                        "train_acc": 40 + 15 * epoch, "val_loss": 2.1 / epoch,
                        "val_acc": 35 + 16 * epoch})
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "log.txt").write_text("".join(f"12:00:{i % 60:02d} log line {i:03d}\n"
                                            for i in range(log_lines)))
    (folder / "status.json").write_text(json.dumps({
        "job": job, "status": status, "model": "resnet18", "epoch": epochs, "epochs": 3,
        "best_val_acc": 35.0 + 16 * epochs, "last_val_acc": 35.0 + 16 * epochs,
        "created": 1000.0 + len(job), "bad_images": bad,
        "message": "finished 3 epochs" if status == "done" else
        f"stopped at epoch {epochs} step 7; checkpoint saved (epoch-000{epochs}-step-00007.pt)"}))
    return folder


@pytest.fixture
def jobs_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    _write_job(tmp_path / "home", "20261130-101500-resnet18-a1b2", "done", 3, 40)
    _write_job(tmp_path / "home", "20261130-111500-resnet18-digits-c3d4", "stopped", 2, 120,
               bad=3)
    return tmp_path / "home"


def _columns_fit_their_cells(table: DataTable) -> bool:
    """Whether the table has measured its rows: each column as wide as its widest cell."""
    from rich.cells import cell_len

    return all(
        column.get_render_width(table)
        >= max(cell_len(str(cell)) for cell in table.get_column(key)) + 2 * table.cell_padding
        for key, column in table.columns.items()
    )


def _drawn(app) -> bool:
    """Whether the Jobs screen shows both jobs, the selected one's plots and the end of its log."""
    screen = app.screen
    if not isinstance(screen, JobsScreen) or not screen.view.epochs:
        return False
    table, log = screen.query_one(DataTable), screen.query_one("#jobs-log", RichLog)
    return (table.row_count == 2 and _columns_fit_their_cells(table)
            and log.lines and log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y)


async def _jobs_ready(pilot) -> None:
    await wait_for(pilot, lambda: _drawn(pilot.app))
    await pilot.pause()  # the frame with all of it


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
def test_jobs_screen_snapshot(snap_compare, jobs_home, size):
    assert snap_compare(ScreenApp(JobsScreen()), terminal_size=size, run_before=_jobs_ready)


async def test_jobs_screen_shows_whole_cells_the_newest_log_lines_and_plots_with_room(jobs_home):
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await _jobs_ready(pilot)
        screen = app.screen
        text = screen_text(app)
        # the selected job is the newest: its log's end is on screen, its start is not
        assert "log line 119" in text and "log line 000" not in text
        assert "stopped" in text and "2/3" in text
        assert "3 unreadable images skipped" in text
        assert screen.query_one("#jobs-loss").size.height >= 8
        assert screen.query_one("#jobs-log").size.height >= 4
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(120, 35)) as pilot:
        await _jobs_ready(pilot)
        table = app.screen.query_one(DataTable)
        widths = {str(c.label): c.get_render_width(table) for c in table.columns.values()}
        assert widths["status"] >= len("stopped") + 2 and widths["epoch"] >= len("3/3") + 2
        text = screen_text(app)
        assert "done" in text and "stopped" in text and "3/3" in text


async def test_a_hand_edited_status_with_brackets_shows_as_written(jobs_home):
    broken = jobs_home / "jobs" / "20261130-121500-broken"
    broken.mkdir()
    (broken / "spec.toml").write_text('[model]\nname = "resnet18"\n')
    (broken / "status.json").write_text('{"epoch": "[/bold] x", "created": 3000}')
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 3)
        await pilot.press("g")  # an unreadable job sorts first (its creation time is unknown)
        await wait_for(pilot, lambda: "[/bold] x" in screen_text(app))
        assert "unreadable status" in screen_text(app)


async def test_j_and_k_move_in_the_jobs_table_and_g_G_jump(jobs_home):
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(120, 35)) as pilot:
        await _jobs_ready(pilot)
        screen = app.screen
        table = screen.query_one(DataTable)
        assert table.cursor_row == 1  # the newest job
        await pilot.press("k")
        await wait_for(pilot, lambda: screen.selected == "20261130-101500-resnet18-a1b2")
        assert table.cursor_row == 0
        await wait_for(pilot, lambda: "log line 039" in screen_text(app))
        await pilot.press("j")
        await wait_for(pilot, lambda: table.cursor_row == 1)
        await pilot.press("g")
        await wait_for(pilot, lambda: table.cursor_row == 0)
        await pilot.press("G")
        await wait_for(pilot, lambda: table.cursor_row == 1)


async def test_launch_form_starts_in_the_data_field_and_q_asks_before_losing_edits(tmp_path):
    workbench = make_workbench("resnet18")
    workbench.apply({"op": "replace_head", "num_classes": 10})
    app = ScreenApp(LaunchScreen(workbench))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.pause(0.2)
        data = app.screen.query_one("#launch-data", Input)
        assert app.focused is data
        await pilot.press(*"/data/q")  # q types into the field, it does not quit
        assert data.value == "/data/q" and app.is_running
        app.screen.query_one("#launch-optimizer", Select).focus()
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        assert app.is_running and data.value == "/data/q"
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)


async def test_launch_form_without_edits_quits_at_once():
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        app.screen.query_one("#launch-optimizer", Select).focus()
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


@pytest.mark.timeout(300)
async def test_e_shows_the_jobs_accuracy_and_confusion_matrix_on_its_val_folder(
        tmp_path, monkeypatch):
    import shutil

    from engine.edit.recipe import load
    from engine.jobs.launch import create_job, launch
    from engine.jobs.store import job_info
    from engine.train.sample_data import write_digits
    from tui.screens.jobs.job_eval import JobEvalScreen

    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    flat = write_digits(tmp_path / "flat", size=12, limit=200)
    data = tmp_path / "data"
    for split in ("train", "val"):
        for folder in sorted(flat.iterdir()):
            files = sorted(folder.iterdir())
            chosen = files[: len(files) * 3 // 4] if split == "train" else files[len(files) * 3 // 4:]
            (data / split / folder.name).mkdir(parents=True)
            for f in chosen:
                shutil.copy(f, data / split / folder.name / f.name)
    model = write_small_cnn(tmp_path)
    (tmp_path / "r.toml").write_text(
        f'[model]\nname = "{model}"\n\n[train]\ndata = "{data}"\nimage_size = 12\n'
        f'epochs = 1\nworkers = 0\nlr = 0.05\nbackbone_lr = 0.05\nbatch_size = 16\n')
    job_dir = create_job(load(tmp_path / "r.toml"))
    launch(job_dir).wait(timeout=240)
    assert job_info(job_dir).status == "done"
    val_counts = [len(list((data / "val" / c).iterdir())) for c in sorted(os.listdir(data / "val"))]

    app = ScreenApp(JobsScreen(), trust_code=True)  # the job's recipe names small.py
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, JobEvalScreen)
                       and app.screen.result is not None, timeout=120)
        result = app.screen.result
        assert [sum(row) for row in result["confusion"]] == val_counts  # every val image, once
        text = screen_text(app)
        assert f"accuracy {result['accuracy']:.2f}%" in text and "digit_9" in text
        matrix = app.screen.query_one("#eval-matrix", DataTable)
        assert matrix.row_count == 10 and len(matrix.columns) == 11
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))


async def test_launch_form_keeps_what_was_typed_after_escape(resnet18_workbench):
    from tui.app import PtmApp
    from tui.screens.explore.explorer import ExplorerScreen

    app = PtmApp(workbench=resnet18_workbench)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None)
        explorer = app.screen
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.pause(0.2)
        await pilot.press(*"/data/digits")
        app.screen.query_one("#launch-epochs", Input).value = "3"
        app.screen.query_one("#launch-optimizer", Select).value = "adamw"
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is explorer)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.pause(0.2)
        form = app.screen
        assert form.query_one("#launch-data", Input).value == "/data/digits"
        assert form.query_one("#launch-epochs", Input).value == "3"
        assert form.query_one("#launch-optimizer", Select).value == "adamw"
        assert form.form_table()["epochs"] == "3"


async def test_launch_form_errors_use_the_forms_words_not_toml():
    workbench = make_workbench("resnet18")
    app = ScreenApp(LaunchScreen(workbench))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        form = app.screen
        form.query_one("#launch-epochs", Input).value = "abc"
        await wait_for(pilot, lambda: "epochs: 'abc' is not valid" in form_error(form))
        text = form_error(form)
        assert "it should be a whole number" in text and "type a whole number, e.g. 10" in text
        assert "[train]" not in text and "epochs =" not in text
        form.query_one("#launch-epochs", Input).value = "3"
        form.query_one("#launch-lr", Input).value = "-1"
        await wait_for(pilot, lambda: "lr: '-1' is not valid" in form_error(form))
        text = form_error(form)
        form.query_one("#launch-lr", Input).value = ""
        form.query_one("#launch-augment", Input).value = "zoom"
        await wait_for(pilot, lambda: "augment: 'zoom' is not valid" in form_error(form))
        text = form_error(form)
        assert "use e.g. crop,flip" in text
        assert not form.query_one("#section-augmentation").collapsed  # its section opens to show it
        assert "[train]" not in text and "lr =" not in text


async def test_launch_form_refuses_a_head_that_does_not_fit_the_data_naming_h(home, digits):
    from engine.jobs.store import jobs_root

    workbench = make_workbench("resnet18")
    workbench.apply({"op": "replace_head", "num_classes": 3})
    app = ScreenApp(LaunchScreen(workbench))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        form = app.screen
        form.query_one("#launch-data", Input).value = str(digits)
        form.query_one("#launch-image_size", Input).value = "32"
        await pilot.pause()
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "not launched" in form_error(form),
                       timeout=60)
        text = form_error(form)
        assert "(head fc) gives 3 outputs per image but the data has 10 classes" in text
        assert "H in the explorer" in text
        assert app.screen is form and not list(jobs_root().glob("*"))
async def test_escape_sequences_in_a_job_folder_reach_the_screen_stripped(jobs_home):
    hostile = jobs_home / "jobs" / "evil\x1b[2J\x1b]0;title\x07job"
    hostile.mkdir()
    (hostile / "spec.toml").write_text('[model]\nname = "resnet18"\n')
    (hostile / "status.json").write_text(json.dumps(
        {"status": "failed", "message": "boom\x1b[31mred", "created": 3000}))
    (hostile / "log.txt").write_text("line one\x1b[2J\nline \x1b]8;;http://x\x07two\n")
    app = ScreenApp(JobsScreen())
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 3)
        await pilot.press("G")
        await wait_for(pilot, lambda: "boomred" in screen_text(app))
        text = screen_text(app)
        assert "eviljob" in text and "line one" in text and "line two" in text
        assert "\x1b" not in text and "\x07" not in text
