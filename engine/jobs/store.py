"""Job folders under PTM_HOME: status.json, metrics.jsonl, log.txt, and an honest job state."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine import readfile
from engine.atomic import atomic_write_text
from engine.errors import BadInput
from engine.home import ptm_home
from engine.jobs.lock import held
from engine.jobs.records import STATUS_TYPES, metric_problem, wrong_status_fields

STATES = ("queued", "running", "done", "failed", "stopped")
DIED = "failed (process died)"


def jobs_root() -> Path:
    """Return the folder holding one sub-folder per job."""
    return ptm_home() / "jobs"


def this_host() -> str:
    """Return this machine's host name, as status.json records the runner's."""
    return socket.gethostname()


STATUS_LIMIT = 1 << 20
"""The most bytes a status.json may hold (the tool writes about one kilobyte)."""


def read_json(path: Path) -> dict[str, Any]:
    """Return the JSON object in `path` ({} when missing, unreadable, too big or too deep)."""
    try:
        data = readfile.read_json(path, STATUS_LIMIT)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_status(job_dir: str | Path) -> dict[str, Any]:
    """Return the job's status.json ({} when there is none yet); fields of the wrong type are left out."""
    status = read_json(Path(job_dir) / "status.json")
    return {key: value for key, value in status.items()
            if not (key in STATUS_TYPES and wrong_status_fields({key: value}))}


def write_status(job_dir: str | Path, **updates: Any) -> dict[str, Any]:
    """Merge `updates` into status.json, write it atomically and return the new status.

    A job folder that is gone stays gone (FileNotFoundError): its user removed it.
    """
    if not Path(job_dir).is_dir():
        raise FileNotFoundError(f"the job folder {job_dir} is gone")
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


def pid_alive(pid: int | None, start_time: int | None = None, need_start: bool = False) -> bool:
    """Return True when `pid` runs (not a zombie) and, when given, started at `start_time`.

    With `need_start`, a missing start time proves nothing: the pid may be reused by now.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
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
    if start_time is None:
        return not need_start
    return process_start_time(pid) == start_time


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
    bad_images: int = 0
    """Images skipped because they could not be read (see status.json's bad_examples)."""
    host: str = ""
    """The host whose process holds the job (its launcher or runner); "" before it started."""
    slurm: dict[str, Any] | None = None
    """For a job run by Slurm: its job id, state, reason, nodes and exit code as Slurm says."""

    def to_dict(self) -> dict[str, Any]:
        """Return the job as a JSON-friendly dict."""
        return asdict(self)

    @property
    def active(self) -> bool:
        """True while the job's process is queued or running."""
        return self.status in ("queued", "running")

    @property
    def elsewhere(self) -> bool:
        """True when the job's process runs on another host (its pid means nothing here)."""
        return bool(self.host) and self.host != this_host()


def _field(status: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """Return status[key] as `kind` (None/missing gives `default`); raise ValueError when it is not."""
    value = status.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
        raise ValueError(f"{key} is {value!r}, not {'an' if kind is int else 'a'} "
                         f"{'integer' if kind is int else kind.__name__}")
    if kind is int and value < 0:
        raise ValueError(f"{key} is {value!r}, a negative number")
    return kind(value)


def job_info(job_dir: str | Path) -> JobInfo:
    """Return the job's state, checking that a "running" job's process really still runs.

    A status.json that is not valid (hand-edited, half-written by hand) gives a job whose
    status says so, "unreadable status (why)", instead of an error.
    """
    job_dir = Path(job_dir)
    try:
        s = readfile.read_json(job_dir / "status.json", STATUS_LIMIT)
    except FileNotFoundError:
        s = {}
    except OSError as error:
        return _unreadable(job_dir, error.strerror or str(error))
    except ValueError as error:
        return _unreadable(job_dir, str(error).replace(str(job_dir / "status.json"), "it")[:120])
    try:
        if not isinstance(s, dict):
            raise ValueError("it is not a JSON object")
        status = _field(s, "status", str, "queued")
        pid, pid_start = _field(s, "pid", int, None), _field(s, "pid_start", int, None)
        info = JobInfo(
            job=_field(s, "job", str, job_dir.name), status=status,
            epoch=_field(s, "epoch", int, 0), epochs=_field(s, "epochs", int, None), pid=pid,
            best_val_acc=_field(s, "best_val_acc", float, None),
            last_val_acc=_field(s, "last_val_acc", float, None),
            checkpoint=_field(s, "checkpoint", str, None), dir=str(job_dir),
            model=_field(s, "model", str, ""), message=_field(s, "message", str, ""),
            step=_field(s, "step", int, 0), steps=_field(s, "steps", int, 0),
            train_loss=_field(s, "train_loss", float, None),
            created=_field(s, "created", float, 0.0), updated=_field(s, "updated", float, 0.0),
            bad_images=_field(s, "bad_images", int, 0), host=_field(s, "host", str, ""))
    except ValueError as error:
        return _unreadable(job_dir, str(error).splitlines()[0][:120])
    if s.get("backend") == "slurm":  # Slurm, not a pid, says whether it waits, runs or ended
        from engine.jobs.slurm.state import merge

        return merge(info, s, job_dir)
    # A process on another host cannot be checked from here, but the job's lock can: a free
    # lock means its runner is gone (e.g. a container restarted under a new host name).
    if status in ("queued", "running") and (
            held(job_dir) is False if info.elsewhere
            else not pid_alive(pid, pid_start, need_start=True)):
        if status == "queued" and time.time() - info.created < 30 and not pid:
            pass  # being launched right now
        else:
            info.status = DIED
            info.message = ("its process is gone without saying why (killed, out of memory, or "
                            "the machine restarted); `ptm-tui resume` continues from the last "
                            "checkpoint")
    return info


def _unreadable(job_dir: Path, why: str) -> JobInfo:
    """Return a job whose status.json cannot be read, saying why."""
    return JobInfo(job=job_dir.name, status=f"unreadable status ({why})", epoch=0, epochs=None,
                   pid=None, best_val_acc=None, last_val_acc=None, checkpoint=None,
                   dir=str(job_dir), message=f"{job_dir / 'status.json'}: {why}")


def list_jobs() -> list[JobInfo]:
    """Return every job under PTM_HOME, oldest first."""
    root = jobs_root()
    try:
        if not root.is_dir():
            return []
        folders = [d for d in root.iterdir() if (d / "spec.toml").is_file()]
    except OSError as error:
        raise BadInput(f"cannot read the jobs folder {root}", error.strerror or str(error),
                       "point PTM_HOME at a folder you can read and write") from None
    jobs = [job_info(d) for d in folders]
    return sorted(jobs, key=lambda j: (j.created, j.job))


def find_job(ref: str | Path) -> Path:
    """Return the folder of a job given its id, a unique id prefix, or its folder path."""
    path = Path(ref).expanduser()
    root = jobs_root()
    try:
        if (path / "spec.toml").is_file():
            return path
        is_id = re.fullmatch(r"[A-Za-z0-9._-]{1,64}", str(ref)) is not None
        exact = root / str(ref)
        if is_id and (exact / "spec.toml").is_file():
            return exact
        matches = sorted(d for d in root.iterdir() if d.name.startswith(str(ref))
                         and (d / "spec.toml").is_file()) if root.is_dir() and is_id else []
    except OSError as error:
        raise BadInput(f"cannot look for job {str(ref)[:80]!r}", error.strerror or str(error),
                       "give a job id from `ptm-tui jobs`") from None
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(j.job for j in list_jobs()[-5:]) or "none yet"
        raise BadInput(f"no job {str(ref)!r}", f"jobs live in {root} (latest: {known})",
                       "run `ptm-tui jobs` to see the job ids")
    raise BadInput(f"job id {str(ref)!r} is ambiguous",
                   f"it matches {', '.join(m.name for m in matches[:5])}", "type more of the id")


def metrics_file(job_dir: str | Path) -> readfile.JsonLines:
    """Return the job's usable metrics.jsonl records, with how many lines were skipped and why.

    Lines that are not UTF-8 JSON objects, or whose fields have the wrong types, are skipped;
    a half-written last line is left out; a missing or unreadable file gives no records.
    """
    path = Path(job_dir) / "metrics.jsonl"
    try:
        found = readfile.read_json_lines(path)
    except FileNotFoundError:
        return readfile.JsonLines()
    except (OSError, ValueError) as error:
        out = readfile.JsonLines()
        out.skip(str(error) if isinstance(error, ValueError) else f"{path}: {error.strerror}")
        return out
    usable = readfile.JsonLines(skipped=found.skipped, why=found.why)
    for record in found.records:
        problem = metric_problem(record)
        if problem:
            usable.skip(f"a {str(record.get('kind'))[:20]} record: {problem}")
        else:
            usable.records.append(record)
    return usable


def read_metrics(job_dir: str | Path) -> list[dict[str, Any]]:
    """Return the job's usable metrics.jsonl records (see metrics_file)."""
    return metrics_file(job_dir).records


def tail_log(job_dir: str | Path, lines: int = 20, max_bytes: int = 64_000) -> str:
    """Return the last `lines` lines of the job's log."""
    try:
        text = readfile.read_bytes(Path(job_dir) / "log.txt", max_bytes, tail=True).decode(
            "utf-8", errors="replace")
    except (OSError, ValueError):
        return ""
    return "\n".join(text.splitlines()[-lines:])
