"""What Slurm says of a job (squeue, else scontrol, sacct where accounting runs) and the job's state.

status.json says what the runner last wrote; Slurm says whether the job waits, runs or ended.
A job waiting in Slurm's queue (first time, or requeued) is "queued" whatever its last run wrote.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

WAITING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SUSPENDED"}
RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING", "STOPPED"}
ENDED_BADLY = {
    "FAILED",
    "TIMEOUT",
    "CANCELLED",
    "PREEMPTED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "REVOKED",
    "SPECIAL_EXIT",
}
CACHE_S = 1.0
_cache: dict[str, tuple[float, SlurmState | None]] = {}


@dataclass
class SlurmState:
    """One Slurm job as the scheduler sees it."""

    job_id: str
    state: str
    """PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, TIMEOUT, CANCELLED, PREEMPTED, ..."""
    reason: str = ""
    nodes: str = ""
    exit_code: str = ""
    start: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return it as `jobs --json` prints it."""
        return asdict(self)

    def describe(self) -> str:
        """Return one line: '12 PENDING (Resources)', '12 RUNNING on vm', '12 FAILED exit 1:0'."""
        text = f"{self.job_id} {self.state}"
        if self.state in WAITING and self.reason and self.reason != "None":
            text += f" ({self.reason})"
        elif self.state in RUNNING and self.nodes:
            text += f" on {self.nodes}"
        elif self.state in ENDED_BADLY or self.state == "COMPLETED":
            if self.exit_code and self.exit_code != "0:0":
                text += f" exit {self.exit_code}"
            if self.reason and self.reason != "None":
                text += f" ({self.reason})"
        return text


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _from_squeue(job_id: str) -> SlurmState | None:
    out = _run(["squeue", "-h", "-j", job_id, "-t", "all", "-o", "%i|%T|%r|%N|%S"])
    for line in (out or "").splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5 and parts[0] == job_id:
            state = SlurmState(parts[0], parts[1], parts[2], parts[3], start=parts[4])
            if state.state not in WAITING | RUNNING:
                state.exit_code = _exit_code(job_id)
            return state
    return None


def _exit_code(job_id: str) -> str:
    out = _run(["scontrol", "-o", "show", "job", job_id]) or ""
    for word in out.split():
        if word.startswith("ExitCode="):
            return word.split("=", 1)[1]
    return ""


def _from_sacct(job_id: str) -> SlurmState | None:
    out = _run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State,Reason,NodeList,ExitCode"])
    for line in (out or "").splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5 and parts[0] == job_id:
            return SlurmState(parts[0], parts[1].split()[0], parts[2], parts[3], parts[4])
    return None


def query(job_id: str) -> SlurmState | None:
    """Return what Slurm says of the job (cached a second), or None when it cannot say."""
    now = time.monotonic()
    cached = _cache.get(job_id)
    if cached and now - cached[0] < CACHE_S:
        return cached[1]
    state = _from_squeue(job_id) or _from_sacct(job_id)
    _cache[job_id] = (now, state)
    return state


def forget(job_id: str) -> None:
    """Drop the cached state of the job (after submitting or cancelling it)."""
    _cache.pop(job_id, None)


def merge(info: Any, status: dict[str, Any], job_dir: Path) -> Any:
    """Return the JobInfo `info` with Slurm's view of the job added (and its state corrected)."""
    job_id = str(status.get("slurm_job_id") or "")
    if not job_id:
        return info
    state = query(job_id)
    if state is None:
        info.slurm = {
            "job_id": job_id,
            "state": "UNKNOWN",
            "text": f"{job_id} (not in squeue)",
            "reason": "squeue/sacct do not know it (it ended long ago, or Slurm cannot be reached from here)",
        }
        if info.status in ("queued", "running"):
            info.message = (
                f"Slurm job {job_id} is not known to squeue or sacct here; its last state was {info.status}"
            )
        return info
    info.slurm = state.to_dict()
    info.slurm["text"] = state.describe()
    written = info.message
    info.message = f"Slurm job {state.describe()}" + (f": {written}" if written else "")
    if state.state in WAITING:
        info.status = "queued"
    elif state.state in RUNNING:
        if state.state == "RUNNING":  # a requeued run before its runner writes: running too
            info.status = "running"
        _check_hello(info, state, job_dir, status)
    elif info.status in ("queued", "running"):
        info.status = f"failed (Slurm {state.state})"
        hello = (job_dir / "hello.json").is_file()
        info.message = (
            f"Slurm job {state.describe()}"
            + (
                ""
                if hello
                else ": it never wrote to the job folder; is the job folder on storage the nodes share?"
            )
            + "; `ptm-tui resume` continues from the last checkpoint"
        )
    return info


def _check_hello(info: Any, state: SlurmState, job_dir: Path, status: dict[str, Any]) -> None:
    """Say so when a running job's node has not been heard from in the job folder in time."""
    try:
        hello = json.loads((job_dir / "hello.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        hello = {}
    if (
        isinstance(hello, dict) and str(hello.get("slurm_job_id")) == state.job_id
    ) or state.state != "RUNNING":
        return
    try:
        started = time.mktime(time.strptime(state.start, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return
    wait = int((status.get("slurm") or {}).get("hello_seconds") or 60)
    if time.time() - started > wait:
        info.message = (
            f"Slurm runs job {state.job_id} on {state.nodes} for over {wait}s, but "
            "nothing from it reached the job folder: the job folder must be on "
            "storage the nodes share (cancel it with `ptm-tui stop`)"
        )
