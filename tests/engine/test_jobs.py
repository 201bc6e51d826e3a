"""Jobs as real processes: detached runs, SIGTERM, kill -9 and resume, torchrun DDP, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from finetune_helpers import wait_for, write_recipe, write_tiny

from engine.edit.recipe import load
from engine.errors import BadInput
from engine.jobs.launch import create_job, launch, resume, runner_command, stop
from engine.jobs.store import DIED, find_job, job_info, list_jobs, read_metrics, read_status
from engine.train.checkpoint import list_checkpoints, newest_complete

pytestmark = pytest.mark.timeout(300)


def _train(digits, **extra):
    return {"data": str(digits), "image_size": 12, "batch_size": 32, "epochs": 3, "workers": 0,
            "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01, "seed": 0, **extra}


def _job(tmp_path, digits, heavy=False, **extra):
    recipe = write_recipe(tmp_path / "recipe.toml", write_tiny(tmp_path, heavy),
                          _train(digits, **extra), edits=[] if heavy else None)
    return create_job(load(recipe))


def _epochs(job_dir):
    return [r["epoch"] for r in read_metrics(job_dir) if r.get("kind") == "epoch"]


def _finish(proc, timeout=240):
    proc.wait(timeout=timeout)


def test_bad_recipes_are_refused_before_a_job_folder_exists(home, tmp_path, digits):
    model = write_tiny(tmp_path)
    no_data = write_recipe(tmp_path / "a.toml", model, {"epochs": 1})
    with pytest.raises(BadInput, match="--data"):
        create_job(load(no_data))
    with pytest.raises(BadInput, match="does not exist"):
        create_job(load(no_data), {"data": str(tmp_path / "missing")})
    bad = write_recipe(tmp_path / "b.toml", model, _train(digits, optimizer="lion"))
    with pytest.raises(BadInput, match="optimizer"):
        create_job(load(bad))
    assert list_jobs() == []


def test_a_detached_job_runs_to_done_and_records_everything(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits)
    assert job_info(job_dir).status == "queued"
    proc = launch(job_dir)
    _finish(proc)
    info = job_info(job_dir)
    assert (info.status, info.epoch, info.epochs) == ("done", 3, 3), info.message
    assert _epochs(job_dir) == [1, 2, 3]
    assert info.best_val_acc is not None and info.best_val_acc > 30
    assert newest_complete(job_dir / "checkpoints")[1]["epoch"] == 3
    assert info.checkpoint.endswith("epoch-0003.pt")
    assert [j.job for j in list_jobs()] == [job_dir.name]
    assert find_job(job_dir.name[:12]) == job_dir
    log = (job_dir / "log.txt").read_text()
    assert "group head weights" in log and "done: finished 3 epochs" in log


@pytest.mark.slow
def test_sigterm_checkpoints_and_stops_then_resume_finishes(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits, epochs=30)
    proc = launch(job_dir)
    wait_for(lambda: job_info(job_dir).epoch >= 1, 120, "the first epoch")
    info = stop(job_dir.name, wait=60)
    assert proc.wait(timeout=30) == 0
    info = job_info(job_dir)
    assert info.status == "stopped" and "checkpoint saved" in info.message
    stopped_at = newest_complete(job_dir / "checkpoints")[1]
    assert (stopped_at["epoch"], stopped_at["step"]) >= (1, 0)
    with pytest.raises(BadInput, match="not running"):
        stop(job_dir.name)

    _, proc = resume(job_dir.name)
    wait_for(lambda: job_info(job_dir).epoch >= stopped_at["epoch"] + 1, 120, "an epoch more")
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    epochs = _epochs(job_dir)
    assert epochs == list(range(1, len(epochs) + 1))  # each epoch recorded once


@pytest.mark.slow
def test_kill_9_then_resume_ends_in_line_with_an_uninterrupted_run(home, tmp_path, digits):
    straight = _job(tmp_path, digits, epochs=4)
    _finish(launch(straight))
    expected = job_info(straight)
    assert expected.status == "done"

    job_dir = _job(tmp_path, digits, epochs=4)
    proc = launch(job_dir)
    wait_for(lambda: job_info(job_dir).epoch >= 2, 120, "two epochs")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    info = job_info(job_dir)
    assert info.status == DIED and "resume" in info.message
    _, proc = resume(job_dir.name)
    _finish(proc)
    final = job_info(job_dir)
    assert final.status == "done" and _epochs(job_dir) == [1, 2, 3, 4]
    assert final.last_val_acc == pytest.approx(expected.last_val_acc, abs=1.0)
    assert "resuming from epoch-000" in (job_dir / "log.txt").read_text()


def test_kill_9_during_checkpoint_writes_always_leaves_a_loadable_checkpoint(
        home, tmp_path, digits):
    job_dir = _job(tmp_path, digits, heavy=True, epochs=50, head="fc", keep_last=1)
    ckpts = job_dir / "checkpoints"
    proc = launch(job_dir)
    wait_for(lambda: list_checkpoints(ckpts), 120, "the first checkpoint")
    caught = 0
    for _ in range(3):
        wait_for(lambda: list(ckpts.glob(".*.tmp")), 120, "a checkpoint being written")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        caught += 1
        found = newest_complete(ckpts)
        assert found is not None, os.listdir(ckpts)
        assert found[1]["model"]["memory.weight"].shape == (4096, 4096)
        _, proc = resume(job_dir.name)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert caught == 3 and newest_complete(ckpts) is not None


@pytest.mark.slow
def test_torchrun_ddp_with_two_gloo_processes_writes_one_set_of_results(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits, epochs=2)
    proc = launch(job_dir, nproc=2)
    _finish(proc)
    info = job_info(job_dir)
    assert info.status == "done", (job_dir / "log.txt").read_text()[-3000:]
    assert _epochs(job_dir) == [1, 2]
    assert [p.name for p in list_checkpoints(job_dir / "checkpoints")] == \
        ["epoch-0001.pt", "epoch-0002.pt"]
    assert read_status(job_dir)["world"] == 2
    assert "2 processes (DDP)" in (job_dir / "log.txt").read_text()


@pytest.mark.slow
def test_stopping_a_ddp_job_stops_every_rank_with_one_checkpoint(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits, epochs=100)
    proc = launch(job_dir, nproc=2)
    wait_for(lambda: job_info(job_dir).epoch >= 1, 120, "an epoch under DDP")
    stop(job_dir.name, wait=60)
    code = proc.wait(timeout=60)
    assert code == 0, (job_dir / "log.txt").read_text()[-4000:]  # every rank and torchrun
    info = job_info(job_dir)
    assert info.status == "stopped" and info.pid == proc.pid
    assert newest_complete(job_dir / "checkpoints")[1]["epoch"] == info.epoch
    log = (job_dir / "log.txt").read_text()
    assert "got SIGTERM" in log and "SignalException" not in log


def test_torchrun_command_lines(tmp_path):
    alone = runner_command(tmp_path, 1)
    assert alone[1:] == ["-m", "engine.jobs.runner", str(tmp_path)]
    local = runner_command(tmp_path, 4)
    assert local[1:5] == ["-m", "torch.distributed.run", "--nproc-per-node=4", "--nnodes=1"]
    assert "--standalone" in local
    hosts = runner_command(tmp_path, 8, nnodes=2, rdzv_endpoint="node0:29400")
    assert "--rdzv-endpoint=node0:29400" in hosts and "--standalone" not in hosts
    with pytest.raises(BadInput, match="rdzv-endpoint"):
        runner_command(tmp_path, 8, nnodes=2)


def _cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_cli_finetune_jobs_stop_resume(home, tmp_path, digits):
    recipe = write_recipe(tmp_path / "r.toml", write_tiny(tmp_path), _train(digits, epochs=2))
    done = _cli("finetune", str(recipe), "--json", "--epochs", "1", "--job-id", "first")
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"job", "status", "epochs", "best_val_acc", "last_val_acc", "checkpoint"} <= set(final)
    assert (final["job"], final["status"], final["epochs"]) == ("first", "done", 1)
    assert os.path.isfile(final["checkpoint"])

    started = _cli("finetune", str(recipe), "--detach", "--json", "--epochs", "30",
                   "--job-id", "second")
    job = json.loads(started.stdout)
    assert job["job"] == "second" and job["status"] in ("queued", "running") and job["pid"]
    wait_for(lambda: job_info(find_job("second")).epoch >= 1, 120, "an epoch")
    lines = [json.loads(line) for line in _cli("jobs", "--json").stdout.splitlines()]
    assert [j["job"] for j in lines] == ["first", "second"]
    for line in lines:
        assert {"job", "status", "epoch", "epochs", "pid", "best_val_acc", "dir"} <= set(line)
    assert lines[1]["status"] == "running"
    stopped = json.loads(_cli("stop", "second", "--json").stdout)
    assert stopped["status"] == "stopped"
    bad = _cli("stop", "second")
    assert bad.returncode == 2 and "not running" in bad.stderr
    again = json.loads(_cli("resume", "second", "--detach", "--json").stdout)
    assert again["status"] in ("queued", "running")
    wait_for(lambda: job_info(find_job("second")).status == "running", 120, "running again")
    assert json.loads(_cli("stop", "second", "--json").stdout)["status"] == "stopped"
    missing = _cli("resume", "nope")
    assert missing.returncode == 2 and "no job 'nope'" in missing.stderr


@pytest.mark.slow
def test_ctrl_c_in_a_followed_finetune_stops_the_job_with_a_checkpoint(home, tmp_path, digits):
    recipe = write_recipe(tmp_path / "r.toml", write_tiny(tmp_path), _train(digits, epochs=500))
    cli = subprocess.Popen([sys.executable, "-m", "tui.cli.main", "finetune", str(recipe),
                            "--job-id", "followed"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (home / "jobs" / "followed").is_dir()
                 and job_info(home / "jobs" / "followed").epoch >= 1, 120, "an epoch")
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=60)
    finally:
        cli.kill()
    assert cli.returncode == 130
    assert "stopping: saving a checkpoint" in err and "stopped after" in out
    info = job_info(home / "jobs" / "followed")
    assert info.status == "stopped" and info.checkpoint
