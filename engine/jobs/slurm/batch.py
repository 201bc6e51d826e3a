"""The Slurm batch step: `python -m engine.jobs.slurm.batch JOB_DIR TOKEN` (the sbatch script runs it).

It proves the job folder is shared (the submitter's token is there; its hello goes back),
holds the job's lock, runs the runner on every task under `srun`, and handles Slurm's
signals: TERM (`ptm-tui stop`, scancel) lets the runner checkpoint and stop; USR1 (the
warning before the time limit, `--signal=B:USR1@S`) also checkpoints, then the job requeues
itself (`scontrol requeue`) and a later run continues from that step, at most max_requeues times.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import PtmError
from engine.jobs.slurm.options import WARNING
from engine.jobs.store import process_start_time, read_status, this_host, write_status

SIGNALS: dict[str, Any] = {"warned": False, "job_dir": None}


def _log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} slurm: {text}", flush=True)


def _on_signal(signum: int, _frame: Any) -> None:
    """Pass a stop to the tasks without signalling srun (srun ends its step at once on TERM)."""
    from engine.jobs.stopping import request_stop

    if signum == signal.SIGUSR1:
        SIGNALS["warned"] = True
        _log("got USR1, Slurm's warning before the time limit: saving a checkpoint to requeue")
    else:
        _log(f"got {signal.Signals(signum).name}: the runner saves a checkpoint and stops")
    with contextlib.suppress(OSError, PtmError):
        request_stop(SIGNALS["job_dir"])  # every rank sees it within a second
    job_id = os.environ.get("SLURM_JOB_ID", "")
    if job_id and shutil.which("scancel"):  # the steps, not this batch step: sooner than the file
        subprocess.run(["scancel", "--signal=TERM", job_id], capture_output=True, timeout=30)


def _warned(job_dir: Path, job_id: str, restart: int) -> bool:
    """True when the sbatch script noted Slurm's time-limit warning for this run."""
    try:
        return (job_dir / WARNING).read_text(encoding="utf-8").split() == [job_id, str(restart)]
    except OSError:
        return False


def _refuse(text: str) -> int:
    print(f"ptm-tui slurm job: {text}", file=sys.stderr, flush=True)
    return 2


def _say_hello(job_dir: Path, job_id: str, restart: int) -> None:
    """Leave the node's hello in the job folder: the submitting host sees it if storage is shared."""
    hello = {"slurm_job_id": job_id, "host": this_host(), "restart": restart, "time": time.time()}
    atomic_write_text(job_dir / "hello.json", json.dumps(hello) + "\n")


def _requeue(job_dir: Path, job_id: str, restart: int, limit: int) -> None:
    """Requeue this job to continue from the checkpoint just saved (or say why not)."""
    if restart >= limit:
        write_status(
            job_dir,
            message=f"stopped at the time limit after {restart} requeues "
            f"(max_requeues = {limit}); `ptm-tui resume` continues from the checkpoint",
        )
        _log(f"not requeueing: it was requeued {restart} times already (max_requeues = {limit})")
        return
    write_status(
        job_dir,
        status="queued",
        message=f"requeued at the time-limit warning "
        f"({restart + 1} of at most {limit}); it continues from the checkpoint",
    )
    _log(
        f"requeueing Slurm job {job_id} ({restart + 1} of at most {limit}): the next run "
        "continues from the checkpoint"
    )
    done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
    if done.returncode != 0:
        words = (done.stderr or done.stdout).strip()
        write_status(
            job_dir,
            status="stopped",
            message=f"scontrol requeue failed: {words}; `ptm-tui resume` continues from the checkpoint",
        )
        _log(f"scontrol requeue failed: {words}")


def run(job_dir: Path, token: str) -> int:
    """Run the job's tasks in this allocation; return the batch step's exit code."""
    from engine.jobs import lock
    from engine.jobs.stopping import clear_stop_request

    job_id = os.environ.get("SLURM_JOB_ID", "")
    restart = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    if not (job_dir / "spec.toml").is_file():
        return _refuse(
            f"the job folder {job_dir} is not on node {this_host()}: it must be on "
            "storage that every node shares"
        )
    status = read_status(job_dir)
    if status.get("slurm_token") != token:
        return _refuse(
            f"{job_dir} on node {this_host()} is not the folder this job was "
            "submitted from (its token differs): put PTM_HOME on shared storage"
        )
    _say_hello(job_dir, job_id, restart)
    try:
        fd = lock.take(job_dir)
    except PtmError as error:
        return _refuse(error.message)
    del fd  # held until this process ends
    clear_stop_request(job_dir)
    nodes = os.environ.get("SLURM_JOB_NODELIST", this_host())
    write_status(
        job_dir,
        slurm_job_id=job_id,
        slurm_restarts=restart,
        host=this_host(),
        pid=os.getpid(),
        pid_start=process_start_time(os.getpid()),
        slurm_nodes=nodes,
        message=f"Slurm job {job_id} started on {nodes}",
    )
    _log(f"job {job_id} on {nodes}" + (f", run {restart + 1} (requeued {restart} times)" if restart else ""))
    SIGNALS["job_dir"] = job_dir
    for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    cmd = ["srun", "--kill-on-bad-exit=1", sys.executable, "-m", "engine.jobs.slurm.task", str(job_dir)]
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    while child.poll() is None:
        if not SIGNALS["warned"] and _warned(job_dir, job_id, restart):
            _on_signal(signal.SIGUSR1, None)
        time.sleep(0.5)
    code = child.returncode
    after = read_status(job_dir)
    if SIGNALS["warned"] and after.get("status") == "stopped":
        limit = int((after.get("slurm") or {}).get("max_requeues", 3))
        _requeue(job_dir, job_id, restart, limit)
        return 0
    _log(f"srun ended with exit code {code}; the job is {after.get('status')}")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the batch step for the job folder and token given."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m engine.jobs.slurm.batch JOB_DIR TOKEN", file=sys.stderr)
        return 2
    return run(Path(args[0]).resolve(), args[1])


if __name__ == "__main__":
    sys.exit(main())
