"""Issue 11's defects, each reproduced on real processes and files: clean stops, one runner
per job, runners that can be stopped, bounded settings, safe job ids, corrupt job folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from finetune_helpers import wait_for, write_recipe, write_tiny

from engine.edit.recipe import load
from engine.errors import BadInput
from engine.jobs.launch import create_job, launch, stop
from engine.jobs.store import job_info, list_jobs, pid_alive, read_status
from engine.train.checkpoint import newest_complete, position

pytestmark = pytest.mark.timeout(300)


def _recipe(tmp_path, digits, slow=False, **extra):
    train = {"data": str(digits), "image_size": 12, "batch_size": 8, "epochs": 50,
             "workers": 0, "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01, "seed": 0,
             "log_every": 1, **extra}
    return write_recipe(tmp_path / "recipe.toml", write_tiny(tmp_path, slow=slow), train)


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout)


def _log(job_dir) -> str:
    return (job_dir / "log.txt").read_text(errors="replace")


def test_stop_with_loader_workers_is_a_clean_stop_and_resume_continues_from_that_step(
        home, tmp_path, digits):
    job_dir = create_job(load(_recipe(tmp_path, digits, slow=True, workers=2, batch_size=4)))
    proc = launch(job_dir)
    try:
        wait_for(lambda: read_status(job_dir).get("step", 0) >= 3, 120, "a few steps")
        assert stop(job_dir.name, wait=60).status == "stopped"
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = _log(job_dir)
    assert "killed by signal" not in log and "Traceback" not in log, log[-2000:]
    path, state = newest_complete(job_dir / "checkpoints")
    epoch, step = position(path)
    assert step > 0 and (state["epoch"], state["step"]) == (epoch, step)  # that step, not an epoch end
    info = job_info(job_dir)
    assert info.status == "stopped" and info.checkpoint == str(path)

    again = _cli("resume", job_dir.name, "--detach", "--json")
    assert again.returncode == 0, again.stderr
    wait_for(lambda: f"resumed at epoch {epoch} step {step}" in _log(job_dir), 120, "the resume")
    assert _cli("stop", job_dir.name).returncode == 0


def test_two_resumes_at_once_start_one_runner_and_the_other_names_its_pid(home, tmp_path, digits):
    from engine.jobs.store import write_status

    job_dir = create_job(load(_recipe(tmp_path, digits)))
    write_status(job_dir, status="stopped")  # as after a `stop`: resumable
    env = {**os.environ}
    cmd = [sys.executable, "-m", "tui.cli.main", "resume", job_dir.name, "--detach", "--json"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    results = [(*p.communicate(timeout=120), p.returncode) for p in (first, second)]
    try:
        codes = sorted(code for _, _, code in results)
        assert codes == [0, 2], results
        refused = next(err for _, err, code in results if code == 2)
        winner = json.loads(next(out for out, _, code in results if code == 0))
        assert "already" in refused and str(winner["pid"]) in refused, refused
        wait_for(lambda: job_info(job_dir).status == "running", 120, "the runner")
        assert job_info(job_dir).pid == winner["pid"]
        # the runner itself refuses a second copy started by hand
        direct = subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(job_dir)],
                                capture_output=True, text=True, timeout=120)
        assert direct.returncode == 2 and "already has a runner" in direct.stderr
    finally:
        stop(job_dir.name, wait=60)


def test_a_launch_refused_while_another_starts_its_runner_names_the_runner_not_the_launcher(tmp_path):
    import threading

    from engine.jobs import lock

    launcher_fd = lock.take(tmp_path, starting=True)  # a launcher between its lock and its Popen
    runner_pid = os.getpid() + 100_000
    handover = threading.Timer(0.5, lock.write_holder, (launcher_fd, runner_pid))
    handover.start()
    try:
        with pytest.raises(BadInput) as refused:
            lock.take(tmp_path)
        assert f"pid {runner_pid} is training it" in refused.value.why, refused.value.why
        assert lock.holder(tmp_path) == runner_pid
    finally:
        handover.join()
        os.close(launcher_fd)


def test_a_killed_runner_leaves_no_lock_behind_even_while_its_loader_workers_linger(
        home, tmp_path, digits):
    import signal

    from engine.jobs.launch import resume

    job_dir = create_job(load(_recipe(tmp_path, digits, workers=2)))
    proc = launch(job_dir)
    wait_for(lambda: read_status(job_dir).get("step", 0) >= 2, 120, "training")
    os.kill(proc.pid, signal.SIGKILL)  # the runner alone, as the OOM killer would
    proc.wait(timeout=30)
    _, again = resume(job_dir.name)  # at once: its workers may still be alive
    try:
        wait_for(lambda: job_info(job_dir).status == "running", 120, "the new runner")
        assert job_info(job_dir).pid == again.pid
    finally:
        stop(job_dir.name, wait=60)


def test_a_runner_whose_job_folder_is_deleted_stops_and_never_recreates_it(
        home, tmp_path, digits):
    import shutil

    job_dir = create_job(load(_recipe(tmp_path, digits)))
    # the runner itself, as `launch` starts it, with its stderr kept apart to read why it ended
    proc = subprocess.Popen([sys.executable, "-m", "engine.jobs.runner", str(job_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: read_status(job_dir).get("step", 0) >= 2, 120, "training")
    shutil.rmtree(job_dir, ignore_errors=True)  # like rm -rf, racing the runner's writes
    try:
        _, err = proc.communicate(timeout=15)
        shutil.rmtree(job_dir, ignore_errors=True)  # what a racing write left, if anything
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert f"the job folder {job_dir} was removed" in err
    time.sleep(1.5)
    assert not job_dir.exists() and list_jobs() == []


def test_stop_never_signals_a_process_it_cannot_prove_is_the_runner(home, tmp_path, digits):
    job_dir = create_job(load(_recipe(tmp_path, digits)))
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        status = json.loads((job_dir / "status.json").read_text())
        status.update(status="running", pid=bystander.pid)  # a pid, but no start time
        (job_dir / "status.json").write_text(json.dumps(status))
        with pytest.raises(BadInput):
            stop(job_dir.name)
        result = _cli("stop", job_dir.name)
        assert result.returncode == 2
        time.sleep(0.3)
        assert bystander.poll() is None and pid_alive(bystander.pid)
        assert job_info(job_dir).status.startswith("failed")
    finally:
        bystander.kill()


@pytest.mark.parametrize("job_id", ["../../escaped-job", "/tmp/abs-job", "a/b/c", "x" * 300,
                                    "..", "white space"])
def test_job_ids_that_would_leave_the_jobs_folder_are_refused(home, tmp_path, digits, job_id):
    result = _cli("finetune", str(_recipe(tmp_path, digits)), "--job-id", job_id, "--detach")
    assert result.returncode == 2, result.stderr
    assert "job id" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "escaped-job").exists() and not os.path.exists("/tmp/abs-job")
    assert not (home / "jobs").exists() or not any((home / "jobs").iterdir())


def test_settings_are_checked_before_a_job_exists(home, tmp_path, digits):
    recipe = str(_recipe(tmp_path, digits))
    for flags, words in [(["--workers", "1000000"], "cores"), (["--workers", "-5"], "workers"),
                         (["--nproc-per-node", "0"], "at least 1"),
                         (["--nproc-per-node", "100000"], "more than this machine has"),
                         (["--lr", "1e309"], "finite"), (["--image-size", "1000000000"], "4096")]:
        result = _cli("finetune", recipe, *flags, "--detach")
        assert result.returncode == 2 and words in result.stderr, (flags, result.stderr)
    assert list_jobs() == []


def test_data_without_class_folders_is_bad_input_and_creates_no_job(home, tmp_path, digits):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.png").write_bytes((next(digits.rglob("*.png"))).read_bytes())
    one = tmp_path / "one"
    (one / "cat").mkdir(parents=True)
    (one / "cat" / "a.png").write_bytes((next(digits.rglob("*.png"))).read_bytes())
    empty = tmp_path / "empty"
    (empty / "cat").mkdir(parents=True)
    (empty / "dog").mkdir()
    recipe = str(_recipe(tmp_path, digits))
    for folder, words in [(flat, "no class sub-folders"), (one, "one class"),
                          (empty, "without images")]:
        result = _cli("finetune", recipe, "--data", str(folder), "--detach")
        assert result.returncode == 2 and words in result.stderr, result.stderr
    assert list_jobs() == []


def test_one_corrupt_status_hides_no_other_job(home, tmp_path, digits):
    recipe = load(_recipe(tmp_path, digits))
    good = create_job(recipe, job_id="good")
    for job_id, status in [("text-epoch", {"epoch": "x"}), ("null-status", None),
                           ("text-pid", {"pid": "abc", "status": "running"}),
                           ("bracket", {"epoch": ["[bold]"]}),
                           ("broken", "{not json")]:
        job_dir = create_job(recipe, job_id=job_id)
        text = status if isinstance(status, str) else json.dumps(
            status if status is None else {**read_status(job_dir), **status})
        (job_dir / "status.json").write_text(text)
    listed = _cli("jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["job"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows["good"]["status"] == "queued" or rows["good"]["status"].startswith("failed")
    for job_id in ("text-epoch", "null-status", "text-pid", "broken", "bracket"):
        assert rows[job_id]["status"].startswith("unreadable status ("), rows[job_id]
    table = _cli("jobs")
    assert table.returncode == 0 and "unreadable status" in table.stdout and "good" in table.stdout
    assert "[bold]" in table.stdout  # a hand-edited value is shown as written, not as markup
    for command in ("stop", "resume"):
        result = _cli(command, "text-pid")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert job_info(good).job == "good"


def test_ptm_home_that_is_a_file_is_a_message(tmp_path, monkeypatch, digits):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    monkeypatch.setenv("PTM_HOME", str(home))
    result = _cli("finetune", str(_recipe(tmp_path, digits)), "--detach")
    assert result.returncode == 2 and "is not a folder" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    jobs = _cli("jobs")
    assert jobs.returncode in (0, 2) and "Traceback" not in jobs.stderr


def _bad_files(folder, count):
    """Write `count` real unreadable images into class folders: truncated JPEG, empty, bomb."""
    import struct
    import zlib

    from PIL import Image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    made = []
    for i in range(count):
        target = folder / f"digit_{i % 10}" / f"bad-{i}"
        kind = i % 3
        if kind == 0:  # a real JPEG cut in half
            path = target.with_suffix(".jpg")
            Image.new("RGB", (64, 64), (i * 20 % 255, 80, 160)).save(path, quality=95)
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif kind == 1:  # an empty file
            path = target.with_suffix(".jpg")
            path.write_bytes(b"")
        else:  # a PNG whose header claims 40000 x 40000 pixels (a decompression bomb)
            path = target.with_suffix(".png")
            header = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                             + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
        made.append(str(path))
    return made


def _copy_digits(digits, tmp_path):
    import shutil

    copy = tmp_path / "digits-with-bad"
    shutil.copytree(digits, copy)
    return copy


def test_a_few_bad_images_are_skipped_named_and_counted(home, tmp_path, digits):
    data = _copy_digits(digits, tmp_path)
    bad = _bad_files(data, 3)  # truncated, empty, bomb among 300 good
    job_dir = create_job(load(_recipe(tmp_path, digits, epochs=2, batch_size=32, log_every=20)),
                         {"data": str(data)})
    proc = launch(job_dir)
    assert proc.wait(timeout=240) == 0, _log(job_dir)[-3000:]
    info = job_info(job_dir)
    assert info.status == "done" and info.bad_images == 3, info
    log = _log(job_dir)
    for path in bad:
        assert f"skipped an unreadable image: {path}" in log
    assert "DecompressionBomb" in log and "Traceback" not in log
    examples = read_status(job_dir)["bad_examples"]
    assert sorted(e.split(" (")[0] for e in examples) == sorted(bad)
    listed = json.loads(_cli("jobs", "--json").stdout.splitlines()[0])
    assert listed["bad_images"] == 3


def test_too_many_bad_images_fail_the_job_naming_them(home, tmp_path, digits):
    data = _copy_digits(digits, tmp_path)
    bad = _bad_files(data, 15)  # more than 10 and more than 1% of 315
    job_dir = create_job(load(_recipe(tmp_path, digits, epochs=2, batch_size=32)),
                         {"data": str(data)})
    proc = launch(job_dir)
    assert proc.wait(timeout=240) == 1
    info = job_info(job_dir)
    assert info.status == "failed" and "could not be read" in info.message
    assert "max_bad_images" in info.message and any(p in info.message for p in bad)
    assert "Traceback" not in _log(job_dir)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_hosts_on_one_machine_train_one_job_agree_and_stop_together(home, tmp_path, digits):
    import re

    recipe = str(_recipe(tmp_path, digits, epochs=100))
    first = _cli("finetune", recipe, "--job-id", "multi", "--nnodes", "2", "--nproc-per-node",
                 "1", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--detach", "--json")
    assert first.returncode == 0, first.stderr
    agent = json.loads(first.stdout)["pid"]
    second = _cli("join", "multi", "--detach", "--json")
    assert second.returncode == 0, second.stderr
    joined = json.loads(second.stdout)
    job_dir = home / "jobs" / "multi"
    try:
        wait_for(lambda: read_status(job_dir).get("world") == 2
                 and read_status(job_dir).get("step", 0) >= 3, 180, "both hosts training")
        stopped = _cli("stop", "multi", "--json")
        assert stopped.returncode == 0, stopped.stderr + stopped.stdout
        assert json.loads(stopped.stdout)["status"] == "stopped"
        wait_for(lambda: not pid_alive(agent) and not pid_alive(joined["pid"]), 60,
                 "both launchers to leave")
    finally:
        for pid in (agent, joined["pid"]):
            if pid_alive(pid):
                os.killpg(pid, 9)
    from pathlib import Path

    logs = _log(job_dir) + Path(joined["log"]).read_text()
    ends = dict(re.findall(r"rank (\d) of 2 on \S+: stopped at (epoch \d+ step \d+, weights "
                           r"sha256 [0-9a-f]+)", logs))
    assert set(ends) == {"0", "1"}, logs[-3000:]
    assert ends["0"] == ends["1"]  # the same step, the same weights on both hosts
    assert "Traceback" not in logs


def test_an_os_error_on_the_job_folder_is_a_message(home, tmp_path, digits):
    from engine.jobs.store import write_status

    job_dir = create_job(load(_recipe(tmp_path, digits)))
    write_status(job_dir, status="stopped")
    (job_dir / "runner.lock").mkdir()  # cannot be opened as the lock file
    result = _cli("resume", job_dir.name, "--detach")
    assert result.returncode == 1 and "cannot lock job" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
