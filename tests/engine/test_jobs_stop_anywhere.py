"""`ptm-tui stop` from any host of a job: a request left in the shared job folder stops the
runner as SIGTERM does, on real processes; `resume` clears an old request first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from finetune_helpers import wait_for, write_recipe, write_tiny

from engine.edit.recipe import load
from engine.jobs.launch import create_job, launch
from engine.jobs.stopping import (
    STOP_REQUEST,
    clear_stop_request,
    request_stop,
    stop_request,
)
from engine.jobs.store import job_info, read_status, this_host, write_status
from engine.train.checkpoint import newest_complete, position

pytestmark = pytest.mark.timeout(300)

OTHER = "gpu-node-7"  # a host name that is not this machine's


def _recipe(tmp_path, digits):
    train = {"data": str(digits), "image_size": 12, "batch_size": 8, "epochs": 50,
             "workers": 0, "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01, "seed": 0,
             "log_every": 1}
    return write_recipe(tmp_path / "recipe.toml", write_tiny(tmp_path, slow=True), train)


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout)


def _log(job_dir) -> str:
    return (job_dir / "log.txt").read_text(errors="replace")


def _say_runner_is_on(job_dir, host: str) -> None:
    """Record `host` as the runner's in status.json, as a runner on that host would have.

    Rank 0 rewrites status.json twice a second (read, merge, write): write until it holds.
    """
    for _ in range(20):
        write_status(job_dir, host=host)
        time.sleep(0.6)
        if read_status(job_dir).get("host") == host:
            return
    pytest.fail("the host in status.json never held")


def test_a_stop_through_the_job_folder_alone_checkpoints_and_resume_continues_unstopped(
        home, tmp_path, digits):
    job_dir = create_job(load(_recipe(tmp_path, digits)))
    proc = launch(job_dir)
    assert read_status(job_dir)["host"] == this_host()
    try:
        wait_for(lambda: read_status(job_dir).get("step", 0) >= 3, 120, "a few steps")
        _say_runner_is_on(job_dir, OTHER)  # `stop` can no longer signal it: only the folder
        info = job_info(job_dir)
        assert info.active and info.elsewhere and info.host == OTHER
        stopped = _cli("stop", job_dir.name, "--json")
        assert stopped.returncode == 0, stopped.stderr + stopped.stdout
        assert json.loads(stopped.stdout)["status"] == "stopped"
        assert (f"job {job_dir.name} runs on host {OTHER}: asked it to stop through the job "
                "folder") in " ".join(stopped.stderr.split())
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = _log(job_dir)
    assert "a stop was asked through the job folder from host" in log, log[-2000:]
    assert "got SIGTERM" not in log and "Traceback" not in log, log[-2000:]
    path, state = newest_complete(job_dir / "checkpoints")
    epoch, step = position(path)
    assert step > 0 and (state["epoch"], state["step"]) == (epoch, step)  # that step
    info = job_info(job_dir)
    assert info.status == "stopped" and info.checkpoint == str(path)

    # The request is still in the folder: resume clears it, so it cannot stop the new run.
    assert stop_request(job_dir) is not None
    again = _cli("resume", job_dir.name, "--detach", "--json")
    assert again.returncode == 0, again.stderr
    pid = json.loads(again.stdout)["pid"]
    try:
        assert not (job_dir / STOP_REQUEST).exists()
        wait_for(lambda: f"resumed at epoch {epoch} step {step}" in _log(job_dir), 120,
                 "the resume")
        assert read_status(job_dir)["host"] == this_host()
        time.sleep(2.5)  # past two of the runner's looks at the folder
        info = job_info(job_dir)
        assert info.status == "running" and not info.elsewhere, info.message
        assert _log(job_dir).count("a stop was asked through the job folder") == 1
        done = _cli("stop", job_dir.name)  # on its own host: signalled (and asked) directly
        assert done.returncode == 0, done.stderr
        assert "asked it to stop through the job folder" not in done.stderr
    finally:
        if job_info(job_dir).active:
            os.kill(pid, 9)


def test_a_request_written_before_a_run_starts_never_stops_it(home, tmp_path, digits):
    job_dir = create_job(load(_recipe(tmp_path, digits)))
    request_stop(job_dir)  # e.g. a stop that raced the end of an earlier run
    proc = launch(job_dir)
    try:
        assert stop_request(job_dir) is None
        wait_for(lambda: read_status(job_dir).get("step", 0) >= 3, 120, "a few steps")
        time.sleep(2.5)
        assert job_info(job_dir).status == "running"
        # A request from here, once the run started, does stop it (the runner sees it itself).
        request_stop(job_dir)
        wait_for(lambda: not job_info(job_dir).active, 60, "the stop")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job_info(job_dir).status == "stopped"
    assert "a stop was asked through the job folder" in _log(job_dir)


def test_request_files_are_written_read_and_cleared(tmp_path):
    assert stop_request(tmp_path) is None
    path = request_stop(tmp_path)
    request = stop_request(tmp_path)
    assert path.name == STOP_REQUEST and request["host"] == this_host()
    assert request["pid"] == os.getpid() and not list(tmp_path.glob(".*.tmp"))
    path.write_text("half a req")  # unreadable still counts as a request
    assert "not valid JSON" in stop_request(tmp_path)["unreadable"]
    clear_stop_request(tmp_path)
    clear_stop_request(tmp_path)  # nothing there: fine
    assert stop_request(tmp_path) is None


def test_jobs_trusts_and_names_a_job_running_on_another_host(tmp_path, monkeypatch):
    from engine.jobs.lock import take

    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    rows = {"remote-run": OTHER, "remote-gone": OTHER, "local-run": this_host()}
    for job, host in rows.items():
        job_dir = tmp_path / "jobs" / job
        job_dir.mkdir(parents=True)
        (job_dir / "spec.toml").write_text('[model]\nname = "resnet18"\n', encoding="utf-8")
        # a pid with no process behind it here (and no start time)
        write_status(job_dir, job=job, status="running", epoch=1, epochs=3, pid=999_999_999,
                     host=host, created=1.0)
    # the remote runner holds the job's lock on the shared folder; the gone one left it free
    lock = take(tmp_path / "jobs" / "remote-run")
    (tmp_path / "jobs" / "remote-gone" / "runner.lock").write_text("4242\n")
    env = {**os.environ, "PTM_HOME": str(tmp_path), "COLUMNS": "120"}
    listed = subprocess.run([sys.executable, "-m", "tui.cli.main", "jobs", "--json"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    jobs = {j["job"]: j for j in map(json.loads, listed.stdout.splitlines())}
    assert jobs["remote-run"]["status"] == "running" and jobs["remote-run"]["host"] == OTHER
    assert jobs["local-run"]["status"] == "failed (process died)"  # checked here: gone
    assert jobs["remote-gone"]["status"] == "failed (process died)"  # its lock is free
    table = subprocess.run([sys.executable, "-m", "tui.cli.main", "jobs"], capture_output=True,
                           text=True, env=env, timeout=60)
    assert table.returncode == 0, table.stderr
    remote = next(line for line in table.stdout.splitlines() if "remote-run" in line)
    assert "running" in remote and OTHER in remote and "host" in table.stdout
    os.close(lock)
