"""Hostile job folders and data, on real job runs (issue 18): a runner writes only into the
folder it locked, says why it stopped, survives odd stop requests and FIFOs in its data, and
every command that reads a job folder answers with a message, never a traceback or a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))  # finetune_helpers
from finetune_helpers import wait_for, write_recipe, write_tiny

from engine.edit.recipe import load
from engine.jobs.launch import create_job, launch
from engine.jobs.store import job_info, read_status
from engine.train.checkpoint import list_checkpoints, newest_complete

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

pytestmark = pytest.mark.timeout(240)


def _job(tmp_path: Path, digits: Path, slow: bool = True, heavy: bool = False, **train) -> Path:
    """Create a job on the digits: the slow tiny CNN runs long enough to act on it mid-run."""
    config = {
        "data": str(digits),
        "image_size": 12,
        "batch_size": 16,
        "epochs": 50,
        "workers": 0,
        "optimizer": "adam",
        "lr": 0.01,
        "backbone_lr": 0.01,
        "seed": 0,
        **train,
    }
    model = write_tiny(tmp_path, heavy=heavy, slow=slow and not heavy)
    recipe = write_recipe(tmp_path / "recipe.toml", model, config, edits=[] if heavy else None)
    return create_job(load(recipe))


def _running(job_dir: Path, steps: int = 2) -> None:
    wait_for(lambda: read_status(job_dir).get("step", 0) >= steps, 120, f"{steps} steps")


def _finish(proc: subprocess.Popen, timeout: float = 60) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def _log(job_dir: Path) -> str:
    return (job_dir / "log.txt").read_text(errors="replace")


# --- the runner writes only into the folder it locked ----------------------------------------


def test_a_job_folder_replaced_by_an_empty_folder_gets_no_checkpoint(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits)
    proc = launch(job_dir)
    _running(job_dir)
    moved = job_dir.with_name(job_dir.name + ".moved")
    os.rename(job_dir, moved)
    job_dir.mkdir()
    assert _finish(proc) == 1
    assert list(job_dir.iterdir()) == []  # nothing written into the folder put in its place
    status = read_status(moved)  # the failure is recorded in the folder the runner locked
    assert status["status"] == "failed"
    assert f"the job folder {job_dir} was replaced by another folder" in status["message"]
    assert "Traceback" not in _log(moved)


def test_a_job_folder_replaced_by_a_symlink_gets_no_checkpoint(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(job_dir / "spec.toml", elsewhere / "spec.toml")  # looks like a job folder
    proc = launch(job_dir)
    _running(job_dir)
    moved = job_dir.with_name(job_dir.name + ".moved")
    os.rename(job_dir, moved)
    job_dir.symlink_to(elsewhere)
    assert _finish(proc) == 1
    assert sorted(p.name for p in elsewhere.iterdir()) == ["spec.toml"]
    status = read_status(moved)
    assert status["status"] == "failed"
    assert f"was replaced by a symbolic link (to {elsewhere})" in status["message"]
    assert "Traceback" not in _log(moved)


def _chattr(flag: str, path: Path) -> bool:
    return (
        shutil.which("chattr") is not None
        and subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0
    )


def test_an_immutable_job_folder_fails_the_job_with_a_reason(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits)
    proc = launch(job_dir)
    _running(job_dir)
    if not _chattr("+i", job_dir):
        proc.kill()
        pytest.skip("chattr +i needs root on a file system with attributes")
    try:
        assert _finish(proc) == 1
    finally:
        _chattr("-i", job_dir)
    info = job_info(job_dir)
    assert info.status == "failed", info.message
    assert f"cannot write status.json into the job folder {job_dir}" in info.message
    assert "operation not permitted" in info.message and "chattr -i" in info.message
    assert "Traceback" not in _log(job_dir)


@pytest.fixture
def small_disk(tmp_path):
    """A 40 MB tmpfs mounted for the test (root only), unmounted after."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_while_checkpointing_says_so_and_keeps_the_last_good_one(
    tmp_path, digits, monkeypatch, small_disk
):
    monkeypatch.setenv("PTM_HOME", str(small_disk / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # After the first checkpoint, a ballast file leaves less room than the next one needs.
    job_dir = _job(tmp_path, digits, slow=False, epochs=30)
    proc = launch(job_dir)
    wait_for(lambda: list_checkpoints(job_dir / "checkpoints"), 120, "the first checkpoint")
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with open(small_disk / "ballast", "wb") as ballast:  # fill the disk up to a few kB
        ballast.write(b"\0" * max(0, free - 40_000))
    assert _finish(proc, 120) == 1
    info = job_info(job_dir)
    assert info.status == "failed"
    assert "no space left on device" in info.message, info.message
    assert "unexpected pos" not in info.message and "Traceback" not in _log(job_dir)
    path, _state = newest_complete(job_dir / "checkpoints")
    assert f"the last good checkpoint is {path.name}" in info.message
    assert not list((job_dir / "checkpoints").glob(".*.tmp"))


# --- stop requests ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["not utf-8", "fifo", "huge"])
def test_an_odd_stop_request_stops_the_job_cleanly(home, tmp_path, digits, kind):
    job_dir = _job(tmp_path, digits)
    proc = launch(job_dir)
    _running(job_dir)
    request = job_dir / "stop.request"
    if kind == "fifo":
        os.mkfifo(request)
    elif kind == "huge":
        request.write_bytes(b"{" * 5_000_000)
    else:
        request.write_bytes(b"\xff\xfe\x00stop")
    assert _finish(proc) == 0
    info = job_info(job_dir)
    assert info.status == "stopped" and "checkpoint saved" in info.message, info.message
    log = _log(job_dir)
    assert "its stop.request is not one ptm-tui wrote" in log, log[-2000:]
    assert "Traceback" not in log


# --- reading job folders ----------------------------------------------------------------------


def _odd_job(
    root: Path, name: str, status: bytes | None = None, metrics: bytes | None = None, fifo: str = ""
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "spec.toml").write_text('[model]\nname = "alexnet"\n')
    if status is not None:
        (folder / "status.json").write_bytes(status)
    if metrics is not None:
        (folder / "metrics.jsonl").write_bytes(metrics)
    if fifo:
        os.mkfifo(folder / fifo)
    return folder


@pytest.fixture
def odd_jobs(home):
    """Job folders holding what no runner writes: garbage, deep nesting, bytes, wrong types."""
    root = home / "jobs"
    deep = b"[" * 100_000 + b"\n"
    _odd_job(root, "garbage", b"xx{", b"not json\n")
    _odd_job(root, "deep", deep, deep)
    _odd_job(root, "bytes", b'\xff\xfe{"a": 1}', b'\xff\xfe{"kind": "epoch"}\n')
    _odd_job(
        root,
        "types",
        b'{"status": "running", "pid": "12", "epoch": 1.5}',
        b'{"kind": "layers", "epoch": 1, "step": 1, "blocks": [1], "flags": []}\n'
        b'{"kind": "epoch", "epoch": "1", "val_acc": "x", "val_loss": 1}\n',
    )
    _odd_job(root, "fifos", fifo="status.json")
    os.mkfifo(root / "fifos" / "metrics.jsonl")
    os.mkfifo(root / "fifos" / "log.txt")
    (root / "linked").symlink_to(root / "garbage")
    _odd_job(root, "esc\x1b[2Jjob", b'{"status": "failed", "message": "boom\\u001b[2J"}')
    return root


def test_odd_job_folders_are_listed_with_why_their_status_is_unreadable(odd_jobs):
    done = ptm("jobs", "--json", timeout=30)
    assert done.returncode == 0, done.stderr
    jobs = {j["job"]: j for j in map(json.loads, done.stdout.splitlines())}
    assert jobs["garbage"]["status"].startswith("unreadable status (it is not valid JSON")
    assert jobs["deep"]["status"] == "unreadable status (it nests more than 32 levels deep)"
    assert jobs["bytes"]["status"].startswith("unreadable status (it is not UTF-8 text")
    assert jobs["types"]["status"] == "unreadable status (pid is '12', not an integer)"
    assert jobs["fifos"]["status"] == "unreadable status (it is a named pipe (FIFO), not a file)"
    assert jobs["linked"]["status"] == jobs["garbage"]["status"]
    table = ptm("jobs", timeout=30)
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    assert "\x1b" not in table.stdout and "escjob" in table.stdout


@pytest.mark.parametrize(
    "args, code, said",
    [
        (["layers", "deep"], 1, "metrics.jsonl line 1 nests more than 32 levels deep"),
        (["layers", "bytes"], 1, "metrics.jsonl line 1 is not UTF-8 text"),
        (["layers", "types"], 1, "a layers record: its blocks is '[1]'"),
        (["layers", "fifos"], 1, "metrics.jsonl is a named pipe (FIFO), not a file"),
        (["compare", "deep", "types"], 0, "metrics.jsonl line 1 nests more than 32 levels deep"),
        (["compare", "garbage", "fifos"], 0, "metrics.jsonl is a named pipe (FIFO), not a file"),
        (["stop", "deep"], 2, "job deep is not running: its status is unreadable status (it nests"),
        (["stop", "bytes"], 2, "its status is unreadable status (it is not UTF-8 text"),
        (["stop", "fifos"], 2, "(it is a named pipe (FIFO), not a file)"),
        (["resume", "fifos"], 2, "job fifos cannot be resumed"),
    ],
)
def test_commands_on_odd_job_folders_answer_with_a_message(odd_jobs, args, code, said):
    done = ptm(*args, timeout=30)
    assert done.returncode == code, done.stdout + done.stderr
    assert said in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr


# --- hostile data: a FIFO named like an image, a class name holding escape sequences ------


def test_a_fifo_in_the_data_and_escapes_in_a_class_name_reach_no_one(home, tmp_path, digits):
    data = tmp_path / "data"
    shutil.copytree(digits, data)
    fifo = data / "digit_3" / "x.png"
    os.mkfifo(fifo)
    os.rename(data / "digit_7", data / "seven\x1b[2J\x1b]0;pwned\x07")
    job_dir = _job(tmp_path, data, slow=False, epochs=1)
    proc = launch(job_dir)
    assert _finish(proc, 120) == 0  # finetune skips the FIFO instead of hanging on it
    info = job_info(job_dir)
    assert info.status == "done" and info.bad_images == 1, info.message
    assert (
        f"{fifo} (Unreadable: it is a named pipe (FIFO), not a file)"
        in read_status(job_dir)["bad_examples"]
    )

    # the job is the test's own tiny.py model: trusted as the user's code
    evaluated = ptm("eval", job_dir.name, "--data", str(data), "--json", "--trust-code", timeout=120)
    assert evaluated.returncode == 0, evaluated.stderr  # eval too
    assert json.loads(evaluated.stdout)["skipped"] == 1

    image = next((data / "seven\x1b[2J\x1b]0;pwned\x07").iterdir())
    shown = ptm("predict", job_dir.name, str(image), "--topk", "10", "--trust-code", timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout + shown.stderr and "\x07" not in shown.stdout
    assert "seven" in shown.stdout
    as_json = ptm("predict", job_dir.name, str(image), "--topk", "10", "--json", "--trust-code",
                   timeout=120)
    labels = [item["label"] for item in json.loads(as_json.stdout)["top"]]
    assert "seven\x1b[2J\x1b]0;pwned\x07" in labels  # JSON keeps the name, escaped


# --- output names -----------------------------------------------------------------------------


def test_export_to_a_300_character_name_is_refused_before_exporting(tmp_path):
    out = tmp_path / ("a" * 300 + ".pt")  # TorchScript: no extra tool needed
    done = ptm("export", "resnet18", "--weights", "none", "--out", str(out), timeout=120)
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr.split())
    assert "the name is too long: it is 303 bytes" in said and "Traceback" not in said
    assert "opening" not in said and list(tmp_path.iterdir()) == []


def test_a_recipe_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    recipe = tmp_path / "recipe.toml"
    os.mkfifo(recipe)
    done = ptm("replay", str(recipe), timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{recipe} is a named pipe (FIFO), not a file" in " ".join(done.stderr.split())


def test_job_logs_and_metrics_are_never_appended_through_a_symlink(home, tmp_path, digits):
    from engine.errors import WorkFailed

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    job_dir = _job(tmp_path, digits, slow=False, epochs=1)
    (job_dir / "log.txt").symlink_to(victim)
    with pytest.raises(WorkFailed, match=r"log\.txt is a symbolic link, not a file"):
        launch(job_dir)
    (job_dir / "log.txt").unlink()
    (job_dir / "metrics.jsonl").symlink_to(victim)
    assert _finish(launch(job_dir), 120) == 1
    info = job_info(job_dir)
    assert info.status == "failed" and "metrics.jsonl is a symbolic link, not a file" in info.message
    assert victim.read_text() == "keep me\n" and "Traceback" not in _log(job_dir)
