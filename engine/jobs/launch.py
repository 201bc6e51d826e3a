"""Create, launch (detached, or under torchrun), stop and resume finetune jobs."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import BadInput, WorkFailed
from engine.jobs.store import JobInfo, job_info, jobs_root, pid_alive, read_status, write_status

SPEC = "spec.toml"


def _slug(text: str) -> str:
    text = text.rsplit(":", 1)[-1] if ":" in text else text.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "model"


def _absolute_sources(edits: list[dict[str, Any]], base: Path | None) -> list[dict[str, Any]]:
    """Return the edits with relative file sources made absolute (the spec lives elsewhere)."""
    out = []
    for edit in edits:
        source = edit.get("source")
        if isinstance(source, str) and "://" not in source and not Path(source).is_absolute():
            near = (base / source) if base else Path(source)
            edit = {**edit, "source": str(near.resolve() if near.exists()
                                          else Path(source).resolve())}
        out.append(edit)
    return out


def create_job(recipe: Any, overrides: dict[str, Any] | None = None,
               job_id: str | None = None) -> Path:
    """Check the recipe's [train] table (with CLI overrides) and write a new job folder; return it.

    `recipe` is an engine.edit.recipe.Recipe (or a dict with model/edit/train). Nothing runs yet.
    """
    from engine.edit.recipe import Recipe, dumps
    from engine.train.config import train_config

    if isinstance(recipe, dict):
        recipe = Recipe(model=recipe["model"], edits=list(recipe.get("edit", [])),
                        train=recipe.get("train"))
    config = train_config(recipe.train, overrides)
    base = recipe.path.parent if recipe.path else None
    if not config.data:
        raise BadInput("no training data given", "the recipe has no [train] data",
                       "set data = \"path/to/images\" in [train] or pass --data PATH")
    data = Path(config.data).expanduser()
    if not data.is_absolute() and base is not None and not data.exists() \
            and (base / data).exists():
        data = base / data
    if not data.is_dir():
        raise BadInput(f"data folder {data} does not exist", "[train] data must be a folder",
                       "point data at an ImageFolder root (one sub-folder per class)")
    config.data = str(data.resolve())
    job_id = job_id or (f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(recipe.model['name'])}"
                        f"-{secrets.token_hex(2)}")
    job_dir = jobs_root() / job_id
    if job_dir.exists():
        raise BadInput(f"job {job_id!r} already exists", f"{job_dir} is taken",
                       "pick another job id or remove the old job folder")
    (job_dir / "checkpoints").mkdir(parents=True)
    spec = Recipe(model=dict(recipe.model), edits=_absolute_sources(recipe.edits, base),
                  train=config.to_dict())
    from engine.atomic import atomic_write_text

    atomic_write_text(job_dir / SPEC, dumps(spec))
    write_status(job_dir, job=job_id, status="queued", model=recipe.model["name"],
                 epoch=0, epochs=config.epochs, created=time.time(), dir=str(job_dir))
    return job_dir


def runner_command(job_dir: Path, nproc: int = 1, nnodes: int = 1,
                   rdzv_endpoint: str | None = None) -> list[str]:
    """Return the command that runs the job: the runner, or torchrun over it for DDP."""
    runner = ["-m", "engine.jobs.runner", str(job_dir)]
    if nproc <= 1 and nnodes <= 1:
        return [sys.executable, *runner]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
           f"--nnodes={nnodes}"]
    if rdzv_endpoint:
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}",
                f"--rdzv-id={job_dir.name}"]
    elif nnodes > 1:
        raise BadInput("several nodes need a rendezvous endpoint", f"--nnodes {nnodes}",
                       "pass --rdzv-endpoint HOST:PORT (the same on every node)")
    else:
        cmd += ["--standalone"]
    return cmd + runner


def launch(job_dir: str | Path, nproc: int = 1, nnodes: int = 1, rdzv_endpoint: str | None = None,
           env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the job in its own session (it outlives this process and the terminal); return it."""
    job_dir = Path(job_dir)
    if nproc < 1 or nnodes < 1:
        raise BadInput("--nproc-per-node and --nnodes must be at least 1",
                       f"got {nproc} and {nnodes}", "use e.g. --nproc-per-node 2")
    cmd = runner_command(job_dir, nproc, nnodes, rdzv_endpoint)
    write_status(job_dir, status="queued", pid=None, nproc=nproc, nnodes=nnodes,
                 rdzv_endpoint=rdzv_endpoint, queued=time.time())
    with open(job_dir / "log.txt", "ab") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, **(env or {})})
        except OSError as error:
            write_status(job_dir, status="failed", message=f"could not start: {error}")
            raise WorkFailed("could not start the job", str(error),
                             "check that python and torch run here") from error
    from engine.jobs.store import process_start_time

    write_status(job_dir, pid=proc.pid, pid_start=process_start_time(proc.pid))
    return proc


def stop(job_ref: str | Path, wait: float = 0.0) -> JobInfo:
    """Ask a running job to checkpoint and stop (SIGTERM to its process group); return its state.

    With `wait` > 0, wait up to that many seconds for it to finish.
    """
    from engine.jobs.store import find_job

    job_dir = find_job(job_ref)
    info = job_info(job_dir)
    pid = info.pid
    if not info.active or not pid:
        raise BadInput(f"job {info.job} is not running", f"its status is {info.status}",
                       "`ptm-tui jobs` lists the running jobs")
    status = write_status(job_dir, stop_requested=time.time())
    worker = status.get("worker_pid")
    try:
        if int(status.get("world") or 1) > 1 and worker and pid_alive(worker):
            # Under torchrun, rank 0 passes the stop to every rank at the next step; the
            # agent then sees its workers finish cleanly (signalling it makes it kill them).
            os.kill(worker, signal.SIGTERM)
        else:
            os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as error:
        raise WorkFailed(f"cannot stop job {info.job}", str(error),
                         "stop it as the user who started it") from error
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and job_info(job_dir).active:
        time.sleep(0.1)
    return job_info(job_dir)


def resume(job_ref: str | Path, env: dict[str, str] | None = None,
           nproc: int | None = None) -> tuple[Path, subprocess.Popen]:
    """Relaunch a stopped, failed or interrupted job from its newest complete checkpoint."""
    from engine.jobs.store import find_job

    job_dir = find_job(job_ref)
    info = job_info(job_dir)
    if info.active:
        raise BadInput(f"job {info.job} is already running", f"pid {info.pid}",
                       f"stop it first with `ptm-tui stop {info.job}`")
    if info.status == "done":
        raise BadInput(f"job {info.job} has finished all {info.epochs} epochs",
                       "there is nothing left to train", "launch a new job to train longer")
    status = read_status(job_dir)
    proc = launch(job_dir, nproc=nproc or int(status.get("nproc") or 1),
                  nnodes=int(status.get("nnodes") or 1),
                  rdzv_endpoint=status.get("rdzv_endpoint"), env=env)
    return job_dir, proc
