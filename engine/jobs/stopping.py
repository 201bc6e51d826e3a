"""Stop a running job: a request file in its folder reaches every host, a signal is quicker here.

The request (`stop.request`) is written atomically; each rank's runner looks for it every
second and treats it as SIGTERM, and the ranks agree on the step to stop at. `launch` (so
`resume`) removes an old request before starting, so it never stops a later run.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import BadInput, WorkFailed
from engine.jobs.store import JobInfo, job_info, pid_alive, read_status, this_host, write_status

STOP_REQUEST = "stop.request"


def request_stop(job_dir: str | Path) -> Path:
    """Leave a stop request in the job folder, for the runner on whichever host; return its path."""
    path = Path(job_dir) / STOP_REQUEST
    asked = {"asked": time.time(), "host": this_host(), "pid": os.getpid()}
    try:
        atomic_write_text(path, json.dumps(asked) + "\n")
    except OSError as error:
        raise WorkFailed(f"cannot ask job {Path(job_dir).name} to stop",
                         f"writing {path} failed: {error.strerror or error}",
                         "make the job folder writable from this host (shared storage mounted "
                         "read-write), or run `ptm-tui stop` on the job's host") from None
    return path


def stop_request(job_dir: str | Path) -> dict[str, Any] | None:
    """Return the job's pending stop request (who asked, when; {} if unreadable), or None."""
    path = Path(job_dir) / STOP_REQUEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {}  # there, but unreadable: still a request
    try:
        request = json.loads(text)
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def clear_stop_request(job_dir: str | Path) -> None:
    """Remove a stop request left from an earlier run, so that it cannot stop the next one."""
    path = Path(job_dir) / STOP_REQUEST
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise WorkFailed(f"cannot remove the old stop request {path}",
                         f"{error.strerror or error}; left there, it would stop the job at once",
                         "remove it by hand (or make the job folder writable), then try again") \
            from None


def _signal(job_dir: Path, pid: int) -> None:
    """Signal the job's process on this host: rank 0 under torchrun, else the runner/agent."""
    status = write_status(job_dir, stop_requested=time.time())
    worker, worker_start = status.get("worker_pid"), status.get("worker_pid_start")
    worker_here = status.get("worker_host", this_host()) == this_host()
    distributed = int(status.get("nproc") or 1) > 1 or int(status.get("nnodes") or 1) > 1
    try:
        if int(status.get("world") or 1) > 1 and worker and worker_here \
                and pid_alive(worker, worker_start):
            # Under torchrun, rank 0 passes the stop to every rank at the next step; the
            # agent then sees its workers finish cleanly (signalling it makes it kill them).
            os.kill(worker, signal.SIGTERM)
        elif distributed and not worker:
            os.killpg(pid, signal.SIGTERM)  # torchrun's agent, before rank 0 started
        elif not distributed:
            # The runner alone: its DataLoader workers share its process group and must
            # not see the signal (the runner finishes the step, then shuts them down).
            os.kill(pid, signal.SIGTERM)
        # else rank 0 runs on another host: the request file reaches it
    except ProcessLookupError:
        pass


def stop(job_ref: str | Path, wait: float = 0.0,
         say: Callable[[str], None] | None = None) -> JobInfo:
    """Ask a running job to checkpoint and stop; return its state.

    From any host that shares the job folder: a request file there reaches the runner; on
    the runner's own host its process is signalled too. `say` hears how the stop was sent.
    With `wait` > 0, wait up to that many seconds for the job to finish.
    """
    from engine.jobs.store import find_job

    job_dir = find_job(job_ref)
    info = job_info(job_dir)
    pid = info.pid
    if not info.active or not (pid or info.elsewhere):
        raise BadInput(f"job {info.job} is not running", f"its status is {info.status}",
                       "`ptm-tui jobs` lists the running jobs")
    if not info.elsewhere and not pid_alive(pid, read_status(job_dir).get("pid_start")):
        raise BadInput(f"job {info.job} has no runner to stop",
                       f"pid {pid} is not the process that started it (its start time differs "
                       "or was never recorded)", "`ptm-tui jobs` shows its state")
    request_stop(job_dir)
    if info.elsewhere:
        if say:
            say(f"job {info.job} runs on host {info.host}: asked it to stop through the job "
                "folder")
    elif pid:
        _signal(job_dir, pid)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and job_info(job_dir).active:
        time.sleep(0.1)
    return job_info(job_dir)
