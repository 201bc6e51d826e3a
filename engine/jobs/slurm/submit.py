"""Submit a job folder to Slurm (sbatch), follow it, and stop it with a checkpoint (scancel)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import BadInput, WorkFailed
from engine.jobs.slurm.options import SCRIPT, SlurmOptions, script
from engine.jobs.slurm.state import RUNNING, WAITING, forget, query
from engine.jobs.store import JobInfo, job_info, read_status, write_status


@dataclass
class SlurmJob:
    """A submitted job, as the CLI follows it: `poll()` is None while Slurm holds it."""

    job_dir: Path
    job_id: str
    pid = None

    def poll(self) -> int | None:
        """Return None while the job waits or runs in Slurm, else 0 (its end is in status.json)."""
        state = query(self.job_id)
        return None if state is not None and state.state in WAITING | RUNNING else 0

    def describe(self) -> str:
        """Return 'Slurm job N'."""
        return f"Slurm job {self.job_id}"


def need(command: str) -> str:
    """Return the path of a Slurm command, or raise BadInput when it is not on PATH."""
    found = shutil.which(command)
    if found is None:
        raise BadInput(
            f"`{command}` is not on PATH",
            "--slurm submits the job with Slurm's own commands (sbatch, squeue, scancel)",
            "run this on a Slurm login node, or `module load slurm` (or add Slurm's bin folder to PATH)",
        )
    return found


def submit(job_dir: Path, options: SlurmOptions) -> SlurmJob:
    """Write the job's sbatch script and submit it; return the Slurm job.

    sbatch's refusal (an unknown partition, a limit) is BadInput carrying Slurm's own words.
    """
    sbatch = need("sbatch")
    if any(c.isspace() for c in str(job_dir)):
        raise BadInput(
            f"the job folder {job_dir} has spaces in its path",
            "sbatch's #SBATCH lines cannot hold it",
            "point PTM_HOME at a path without spaces",
        )
    token = secrets.token_hex(8)
    path = job_dir / SCRIPT
    atomic_write_text(path, script(job_dir, options, token))
    path.chmod(0o755)
    from engine.jobs.stopping import clear_stop_request

    clear_stop_request(job_dir)
    write_status(
        job_dir,
        status="queued",
        backend="slurm",
        slurm=options.to_dict(),
        slurm_token=token,
        slurm_job_id=None,
        pid=None,
        pid_start=None,
        worker_pid=None,
        worker_host=None,
        host=None,
        nproc=options.tasks_per_node,
        nnodes=options.nodes,
        queued=time.time(),
        message="submitting to Slurm",
    )
    try:
        done = subprocess.run(
            [sbatch, "--parsable", str(path)], capture_output=True, text=True, timeout=60, cwd=job_dir
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        write_status(job_dir, status="failed", message=f"sbatch did not answer: {error}")
        raise WorkFailed(
            "sbatch did not answer",
            str(error),
            "check that Slurm's controller is up (`sinfo`), then `ptm-tui resume` the job",
        ) from None
    words = (done.stderr or done.stdout).strip()
    if done.returncode != 0:
        write_status(job_dir, status="failed", message=f"sbatch refused the job: {words}")
        raise BadInput(
            "sbatch refused the job",
            words or f"exit code {done.returncode}",
            "fix the Slurm options (`sinfo` lists the partitions, `man sbatch` the options) and submit again",
        )
    job_id = done.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise WorkFailed("sbatch did not say the job id", repr(done.stdout[:200]), "look at `squeue --me`")
    write_status(job_dir, slurm_job_id=job_id, message=f"submitted to Slurm as job {job_id}")
    with open(job_dir / "log.txt", "a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%H:%M:%S')} submitted to Slurm as job {job_id} ({path.name})\n")
    forget(job_id)
    return SlurmJob(job_dir, job_id)


def resubmit(job_dir: Path) -> SlurmJob:
    """Submit a stopped or failed Slurm job again, with the options it was first given."""
    from engine.jobs.slurm.options import options_from

    status = read_status(job_dir)
    options = options_from(status.get("slurm") or {}, {})
    state = query(str(status.get("slurm_job_id") or "")) if status.get("slurm_job_id") else None
    if state is not None and state.state in WAITING | RUNNING:
        raise BadInput(
            f"job {job_dir.name} is still in Slurm's queue",
            f"Slurm job {state.describe()}",
            f"stop it first with `ptm-tui stop {job_dir.name}`",
        )
    return submit(job_dir, options)


def stop(job_dir: Path, wait: float = 0.0, say: Callable[[str], None] | None = None) -> JobInfo:
    """Ask a Slurm job to checkpoint and stop (TERM to every step); a waiting job is cancelled."""
    from engine.jobs.stopping import request_stop

    status = read_status(job_dir)
    job_id = str(status.get("slurm_job_id") or "")
    state = query(job_id) if job_id else None
    if state is None or state.state not in WAITING | RUNNING:
        info = job_info(job_dir)
        raise BadInput(
            f"job {info.job} is not running",
            f"its status is {info.status}",
            "`ptm-tui jobs` lists the running jobs",
        )
    scancel = need("scancel")
    waiting = state.state in WAITING
    if not waiting:
        request_stop(job_dir)  # reaches the runner through the job folder too
    # a waiting job is cancelled; a running one's steps get TERM (not srun: it would end them)
    cmd = [scancel, job_id] if waiting else [scancel, "--signal=TERM", job_id]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise WorkFailed(
            f"scancel did not stop Slurm job {job_id}",
            (done.stderr or done.stdout).strip(),
            "try `scancel` by hand",
        )
    if waiting:
        write_status(
            job_dir,
            status="stopped",
            message=f"cancelled while waiting in Slurm's queue ({state.reason}); "
            "`ptm-tui resume` submits it again",
        )
    if say:
        say(
            f"Slurm job {job_id}: "
            + ("cancelled" if waiting else "sent TERM to every step (the runner saves a checkpoint)")
        )
    forget(job_id)
    deadline = time.monotonic() + wait
    info = job_info(job_dir)
    while time.monotonic() < deadline and info.active:
        time.sleep(0.2)
        forget(job_id)
        info = job_info(job_dir)
    return info


def slurm_fields(status: dict[str, Any]) -> bool:
    """True when status.json says the job runs under Slurm."""
    return status.get("backend") == "slurm"
