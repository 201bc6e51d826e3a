"""End to end on a real Slurm (.ci/slurm-up.sh starts a one-node one): submit, watch, stop, requeue.

Skipped, saying why, where Slurm does not answer; under CI=true that is a failure instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import wait_for, write_recipe, write_tiny

try:
    from tests.helpers.slurm_up import need_slurm
except ImportError:  # tests/ itself is on sys.path
    from helpers.slurm_up import need_slurm

from engine.jobs.store import job_info

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def slurm() -> None:
    """Need a Slurm that answers: skip without one, fail under CI (where .ci/run starts it)."""
    need_slurm()


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
    )


def _recipe(tmp_path: Path, digits: Path, epochs: int) -> Path:
    model = write_tiny(tmp_path, slow=True)  # 20 ms steps: a signal lands mid-epoch
    train = {"data": str(digits), "image_size": 12, "batch_size": 32, "epochs": epochs, "workers": 0,
             "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01, "seed": 0}  # fmt: skip
    return write_recipe(tmp_path / "recipe.toml", model, train)


def _job(job: str) -> dict:
    """The job as `jobs --json` prints it (read in this process: polling the CLI is slow)."""
    from engine.jobs.slurm.state import forget
    from engine.jobs.store import jobs_root, read_status

    forget(str(read_status(jobs_root() / job).get("slurm_job_id")))
    return job_info(jobs_root() / job).to_dict()


def _log(home: Path, job: str) -> str:
    return (home / "jobs" / job / "log.txt").read_text(errors="replace")


def _submit(recipe: Path, job: str, *flags: str) -> str:
    done = _cli("finetune", str(recipe), "--slurm", "--job-id", job, "--detach", *flags)
    assert done.returncode == 0, done.stderr
    assert f"(Slurm job {_job(job)['slurm']['job_id']})" in done.stdout
    return _job(job)["slurm"]["job_id"]


def _cleanup(job_id: str) -> None:
    subprocess.run(["scancel", job_id], capture_output=True)


def test_a_job_submitted_to_slurm_runs_to_done_and_shows_its_slurm_state(slurm, home, tmp_path, digits):
    recipe = _recipe(tmp_path, digits, epochs=2)
    env = {**os.environ, "HF_TOKEN": "hf_s3cret_never_in_scripts"}
    done = _cli("finetune", str(recipe), "--slurm", "--job-id", "fin", "--json", env=env)
    assert done.returncode == 0, done.stderr + _log(home, "fin")[-3000:]
    final = json.loads(done.stdout.splitlines()[-1])
    assert final["status"] == "done" and final["epochs"] == 2
    assert final["slurm"]["state"] == "COMPLETED" and final["slurm"]["job_id"].isdigit()
    script = (home / "jobs" / "fin" / "slurm.sbatch").read_text()
    assert "#SBATCH --signal=B:USR1@120" in script and "#SBATCH --requeue" in script
    assert "hf_s3cret" not in script and "HF_TOKEN" not in script  # sbatch passes the env itself
    hello = json.loads((home / "jobs" / "fin" / "hello.json").read_text())
    assert hello["slurm_job_id"] == final["slurm"]["job_id"]
    log = _log(home, "fin")
    assert f"submitted to Slurm as job {final['slurm']['job_id']}" in log and "done: finished 2" in log
    table = _cli("jobs").stdout
    assert re.search(rf"fin\s+done\s+2/2.*{final['slurm']['job_id']} COMPLETED", table), table


def test_stop_checkpoints_the_step_and_resume_resubmits_and_continues(slurm, home, tmp_path, digits):
    recipe = _recipe(tmp_path, digits, epochs=100)
    job_id = _submit(recipe, "stopme")
    try:
        wait_for(lambda: _job("stopme")["epoch"] >= 1, 120, "an epoch under Slurm")
        assert _job("stopme")["status"] == "running"
        node = os.uname().nodename.split(".")[0]
        assert f"{job_id} RUNNING on {node}" in _cli("jobs").stdout
        done = _cli("stop", "stopme")
        assert done.returncode == 0, done.stderr
        assert "job stopme: stopped" in done.stdout
        stopped = _job("stopme")
        assert stopped["status"] == "stopped", stopped
        saved = re.findall(r"checkpoint saved \((epoch-\S+\.pt)\)", stopped["message"])
        assert saved and (home / "jobs" / "stopme" / "checkpoints" / saved[-1]).is_file()
        # TERM to the steps or the stop request in the job folder, whichever the runner saw first
        assert ": saving a checkpoint and stopping" in _log(home, "stopme")

        done = _cli("resume", "stopme", "--detach")
        assert done.returncode == 0, done.stderr
        again = _job("stopme")["slurm"]["job_id"]
        assert again != job_id
        wait_for(lambda: _job("stopme")["epoch"] > stopped["epoch"], 120, "an epoch after resuming")
        assert f"resuming from {saved[-1]}" in _log(home, "stopme")
        assert _cli("stop", "stopme").returncode == 0
    finally:
        _cleanup(job_id)


def test_scontrol_requeue_mid_run_continues_from_the_last_checkpoint(slurm, home, tmp_path, digits):
    recipe = _recipe(tmp_path, digits, epochs=100)
    job_id = _submit(recipe, "requeued")
    try:
        wait_for(lambda: _job("requeued")["epoch"] >= 2, 120, "two epochs under Slurm")
        subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=30)
        waiting = wait_for(lambda: (j := _job("requeued"))["slurm"]["state"] == "PENDING" and j, 60,
                           "the requeued job waiting")  # fmt: skip
        assert waiting["status"] == "queued" and f"{job_id} PENDING (" in waiting["message"]
        wait_for(lambda: "resuming from" in _log(home, "requeued"), 120, "the requeued run resuming")
        newest = re.findall(r"resuming from (epoch-\S+\.pt)", _log(home, "requeued"))[-1]
        assert int(newest[6:10]) >= 2  # not from the start
        wait_for(lambda: _job("requeued")["status"] == "running", 60, "the second run training")
        assert _job("requeued")["slurm"]["job_id"] == job_id  # the same Slurm job, run again
        assert _cli("stop", "requeued").returncode == 0
    finally:
        _cleanup(job_id)


def test_the_time_limit_warning_checkpoints_and_requeues_a_bounded_number_of_times(
        slurm, home, tmp_path, digits):  # fmt: skip
    recipe = _recipe(tmp_path, digits, epochs=500)
    # A 1-minute limit: Slurm may send the warning up to a minute early, i.e. at once.
    job_id = _submit(recipe, "limit", "--time", "1", "--time-warning", "50", "--max-requeues", "1")
    try:

        def ended() -> dict | None:
            job = _job("limit")
            return job if job["slurm"]["state"] == "COMPLETED" else None

        end = wait_for(ended, 240, "two runs and the end")
        assert end["status"] == "stopped", end
        log = _log(home, "limit")
        assert log.count("got USR1, Slurm's warning before the time limit") == 2, log[-3000:]
        assert "requeueing Slurm job" in log and "(1 of at most 1)" in log
        assert "run 2 (requeued 1 times)" in log and "resuming from epoch-" in log
        assert "not requeueing: it was requeued 1 times already" in log
        assert "after 1 requeues" in end["message"]
        assert end["slurm"]["state"] == "COMPLETED"
        first = re.findall(r"checkpoint saved \((epoch-\S+\.pt)\)", log)[0]
        assert f"resuming from {first}" in log  # the second run went on from the first's step
        assert Path(end["checkpoint"]).is_file() and Path(end["checkpoint"]).name != first
    finally:
        _cleanup(job_id)


def test_two_tasks_under_srun_train_one_job_together(slurm, home, tmp_path, digits):
    recipe = _recipe(tmp_path, digits, epochs=1)
    done = _cli("finetune", str(recipe), "--slurm", "--job-id", "ddp", "--nproc-per-node", "2", "--json")
    log = _log(home, "ddp")
    assert done.returncode == 0, done.stderr + log[-3000:]
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "done"
    assert "2 processes (DDP)" in log
    digests = dict(re.findall(r"rank (\d) of 2 on \S+: done at epoch 1 step 0, weights sha256 (\w+)", log))
    assert set(digests) == {"0", "1"} and digests["0"] == digests["1"]  # one model, trained together
    assert "#SBATCH --ntasks-per-node=2" in (home / "jobs" / "ddp" / "slurm.sbatch").read_text()


def test_a_job_asking_more_cpus_than_the_node_has_waits_with_its_reason_and_can_be_cancelled(
        slurm, home, tmp_path, digits):  # fmt: skip
    recipe = _recipe(tmp_path, digits, epochs=1)
    job_id = _submit(recipe, "toobig", "--cpus-per-task", "64")
    try:
        time.sleep(2)  # the scheduler has looked at it
        info = _job("toobig")
        assert info["status"] == "queued" and info["slurm"]["state"] == "PENDING"
        assert info["slurm"]["reason"] not in ("", "None")
        assert f"{job_id} PENDING ({info['slurm']['reason']})" in _cli("jobs").stdout.replace("\n", "")
        done = _cli("stop", "toobig")
        assert done.returncode == 0, done.stderr
        info = _job("toobig")
        assert info["status"] == "stopped" and "cancelled while waiting" in info["message"]
        assert info["slurm"]["state"] == "CANCELLED"
        resumed_refused = _cli("stop", "toobig")
        assert resumed_refused.returncode == 2 and "is not running" in resumed_refused.stderr
    finally:
        _cleanup(job_id)


def test_a_node_that_does_not_see_the_job_folder_fails_the_job_saying_so(slurm, home, tmp_path, digits):
    recipe = _recipe(tmp_path, digits, epochs=1)
    job_id = _submit(recipe, "elsewhere", "--slurm-arg", "hold")
    try:
        # The node finds another folder at this path, as when the job folder is not shared.
        path = home / "jobs" / "elsewhere" / "status.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "slurm_token": "0" * 16}))
        subprocess.run(["scontrol", "release", job_id], check=True, timeout=30)

        def ended() -> dict | None:
            job = _job("elsewhere")
            return job if job["slurm"]["state"] not in ("PENDING", "RUNNING", "COMPLETING") else None

        end = wait_for(ended, 90, "the job to end")
        assert end["status"] == "failed (Slurm FAILED)" and "exit 2:0" in end["message"]
        assert (
            "never wrote to the job folder; is the job folder on storage the nodes share?" in end["message"]
        )
        assert "put PTM_HOME on shared storage" in _log(home, "elsewhere")
        assert not (home / "jobs" / "elsewhere" / "hello.json").exists()
    finally:
        _cleanup(job_id)


def test_without_sbatch_on_path_slurm_jobs_are_refused_before_a_job_folder_exists(home, tmp_path, digits):
    recipe = _recipe(tmp_path, digits, epochs=1)
    empty = tmp_path / "bin"
    empty.mkdir()
    done = _cli("finetune", str(recipe), "--slurm", env={**os.environ, "PATH": str(empty)})
    assert done.returncode == 2, done.stderr
    assert "`sbatch` is not on PATH" in done.stderr and "Traceback" not in done.stderr
    assert not (home / "jobs").exists() or not os.listdir(home / "jobs")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--partition", "nosuchpart"], "invalid partition specified: nosuchpart"),
        (["--mem", "999999G"], "Batch job submission failed"),
    ],
)
def test_sbatch_refusals_exit_2_with_slurms_own_words_and_leave_no_job(slurm, home, tmp_path, digits,
                                                                      flags, words):  # fmt: skip
    recipe = _recipe(tmp_path, digits, epochs=1)
    done = _cli("finetune", str(recipe), "--slurm", "--job-id", "refused", *flags)
    assert done.returncode == 2, done.stderr
    assert "sbatch refused the job" in done.stderr and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (home / "jobs" / "refused").exists()


def test_a_bad_slurm_option_exits_2_before_anything_is_submitted(home, tmp_path, digits):
    recipe = _recipe(tmp_path, digits, epochs=1)
    done = _cli("finetune", str(recipe), "--slurm", "--slurm-arg", "output=/tmp/elsewhere")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    if shutil.which("sbatch") is None:
        assert "`sbatch` is not on PATH" in done.stderr
    else:
        assert "--slurm-arg output is set by ptm-tui itself" in done.stderr, done.stderr
    assert not (home / "jobs").exists() or not os.listdir(home / "jobs")


@pytest.mark.parametrize(
    ("table", "flags", "words"),
    [
        ({}, {"args": ["comment=a;rm -rf /"]}, "cannot hold safely"),
        ({"args": {"comment": "a\n#SBATCH --wrap=x"}}, {}, "cannot hold safely"),
        ({"time": "soon"}, {}, "is not a time limit"),
        ({"args": 3}, {}, "[slurm] args must be a table"),
        ({"nodes": 0}, {}, "nodes must be a whole number of at least 1"),
        ({"gpus": 2}, {}, "[slurm] has unknown keys gpus"),
        ({"partition": "gpu"}, {"partition": "a b"}, "Slurm partition 'a b' is not valid"),
    ],
)
def test_slurm_options_that_an_sbatch_line_cannot_hold_are_refused(table, flags, words):
    from engine.errors import BadInput
    from engine.jobs.slurm.options import options_from

    with pytest.raises(BadInput) as refused:
        options_from(table, flags)
    assert words in refused.value.message


def test_the_recipe_table_and_the_flags_make_the_sbatch_lines(tmp_path):
    from engine.jobs.slurm.options import options_from, script

    options = options_from({"partition": "gpu", "time": "2:00:00", "args": {"constraint": "a100"}},
                           {"partition": "debug", "gpus_per_node": 4, "args": ["exclusive"]})  # fmt: skip
    text = script(tmp_path / "job", options, "tok")
    lines = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --partition=debug" in lines and "#SBATCH --time=2:00:00" in lines
    assert "#SBATCH --gpus-per-node=4" in lines and "#SBATCH --ntasks-per-node=4" in lines
    assert "#SBATCH --constraint=a100" in lines and "#SBATCH --exclusive" in lines
