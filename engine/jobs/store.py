"""Job folders under PTM_HOME: status.json, metrics.jsonl, log.txt, and an honest job state."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import BadInput

STATES = ("queued", "running", "done", "failed", "stopped")
DIED = "failed (process died)"


def ptm_home() -> Path:
    """Return the state folder: $PTM_HOME, else $XDG_STATE_HOME/ptm-tui, else ~/.local/state/ptm-tui."""
    if os.environ.get("PTM_HOME"):
        return Path(os.environ["PTM_HOME"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "ptm-tui"


def jobs_root() -> Path:
    """Return the folder holding one sub-folder per job."""
    return ptm_home() / "jobs"


def read_json(path: Path) -> dict[str, Any]:
    """Return the JSON object in `path` ({} when missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_status(job_dir: str | Path) -> dict[str, Any]:
    """Return the job's status.json as written ({} when there is none yet)."""
    return read_json(Path(job_dir) / "status.json")


def write_status(job_dir: str | Path, **updates: Any) -> dict[str, Any]:
    """Merge `updates` into status.json, write it atomically and return the new status."""
    status = read_status(job_dir)
    status.update(updates)
    status["updated"] = time.time()
    atomic_write_text(Path(job_dir) / "status.json", json.dumps(status, indent=1) + "\n")
    return status


def process_start_time(pid: int) -> int | None:
    """Return the kernel's start time of `pid` (clock ticks since boot), or None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19]) if len(fields) > 19 else None


def pid_alive(pid: int | None, start_time: int | None = None) -> bool:
    """Return True when `pid` runs (not a zombie) and, when given, started at `start_time`."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    if stat[stat.rindex(")") + 2:].startswith("Z"):
        return False
    return start_time is None or process_start_time(pid) == start_time


@dataclass
class JobInfo:
    """One job as a list shows it: its id, state, progress, best metric and folder."""

    job: str
    status: str
    """queued, running, done, failed, stopped, or "failed (process died)" when its process is gone."""
    epoch: int
    epochs: int | None
    pid: int | None
    best_val_acc: float | None
    last_val_acc: float | None
    checkpoint: str | None
    dir: str
    model: str = ""
    message: str = ""
    step: int = 0
    steps: int = 0
    train_loss: float | None = None
    created: float = 0.0
    updated: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the job as a JSON-friendly dict."""
        return asdict(self)

    @property
    def active(self) -> bool:
        """True while the job's process is queued or running."""
        return self.status in ("queued", "running")


def job_info(job_dir: str | Path) -> JobInfo:
    """Return the job's state, checking that a "running" job's process really still runs."""
    job_dir = Path(job_dir)
    s = read_status(job_dir)
    status = s.get("status", "queued")
    message = s.get("message", "")
    if status in ("queued", "running") and not pid_alive(s.get("pid"), s.get("pid_start")):
        if status == "queued" and time.time() - float(s.get("created", 0)) < 30 and not s.get("pid"):
            pass  # being launched right now
        else:
            status = DIED
            message = ("its process is gone without saying why (killed, out of memory, or the "
                       "machine restarted); `ptm-tui resume` continues from the last checkpoint")
    return JobInfo(
        job=s.get("job", job_dir.name), status=status, epoch=int(s.get("epoch", 0)),
        epochs=s.get("epochs"), pid=s.get("pid"), best_val_acc=s.get("best_val_acc"),
        last_val_acc=s.get("last_val_acc"), checkpoint=s.get("checkpoint"), dir=str(job_dir),
        model=s.get("model", ""), message=message, step=int(s.get("step", 0)),
        steps=int(s.get("steps", 0)), train_loss=s.get("train_loss"),
        created=float(s.get("created", 0.0)), updated=float(s.get("updated", 0.0)))


def list_jobs() -> list[JobInfo]:
    """Return every job under PTM_HOME, oldest first."""
    root = jobs_root()
    if not root.is_dir():
        return []
    jobs = [job_info(d) for d in root.iterdir() if (d / "spec.toml").is_file()]
    return sorted(jobs, key=lambda j: (j.created, j.job))


def find_job(ref: str | Path) -> Path:
    """Return the folder of a job given its id, a unique id prefix, or its folder path."""
    path = Path(ref).expanduser()
    if (path / "spec.toml").is_file():
        return path
    root = jobs_root()
    exact = root / str(ref)
    if (exact / "spec.toml").is_file():
        return exact
    matches = sorted(d for d in root.glob(f"{ref}*") if (d / "spec.toml").is_file()) \
        if root.is_dir() and str(ref) else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(j.job for j in list_jobs()[-5:]) or "none yet"
        raise BadInput(f"no job {str(ref)!r}", f"jobs live in {root} (latest: {known})",
                       "run `ptm-tui jobs` to see the job ids")
    raise BadInput(f"job id {str(ref)!r} is ambiguous",
                   f"it matches {', '.join(m.name for m in matches[:5])}", "type more of the id")


def read_metrics(job_dir: str | Path) -> list[dict[str, Any]]:
    """Return the job's metrics.jsonl records (a half-written last line is skipped)."""
    path = Path(job_dir) / "metrics.jsonl"
    records = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
    return records


def tail_log(job_dir: str | Path, lines: int = 20, max_bytes: int = 64_000) -> str:
    """Return the last `lines` lines of the job's log."""
    path = Path(job_dir) / "log.txt"
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
