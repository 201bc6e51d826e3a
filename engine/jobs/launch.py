"""Create, launch (detached, or under torchrun), stop and resume finetune jobs."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import BadInput, WorkFailed
from engine.jobs.stopping import clear_stop_request
from engine.jobs.stopping import stop as stop_here
from engine.jobs.store import JobInfo, job_info, jobs_root, read_status, this_host, write_status

SPEC = "spec.toml"


JOB_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def check_job_id(job_id: str) -> None:
    """Refuse a job id that is not 1-64 letters, digits, '.', '_' or '-' (it names a folder)."""
    if not JOB_ID.fullmatch(job_id) or job_id in (".", ".."):
        raise BadInput(f"job id {job_id[:80]!r} is not valid",
                       "a job id names a folder under $PTM_HOME/jobs: 1-64 letters, digits, "
                       "'.', '_' or '-', with no '/'", "pick e.g. --job-id digits-run1")


def check_home() -> Path:
    """Return the jobs folder, or raise BadInput when PTM_HOME cannot hold it."""
    root = jobs_root()
    for folder in (root.parent, root):
        if folder.exists() and not folder.is_dir():
            raise BadInput(f"{folder} is not a folder", "ptm-tui keeps its jobs under "
                           "$PTM_HOME/jobs", "point PTM_HOME at a folder (or unset it)")
    return root


def _slug(text: str) -> str:
    text = text.rsplit(":", 1)[-1] if ":" in text else text.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "model"


def create_job(recipe: Any, overrides: dict[str, Any] | None = None,
               job_id: str | None = None) -> Path:
    """Check the recipe's [train] table (with CLI overrides) and write a new job folder; return it.

    `recipe` is an engine.edit.recipe.Recipe (or a dict with model/edit/train). Nothing runs yet.
    """
    from engine.edit.recipe import Recipe, dumps
    from engine.edit.recipe_paths import resolve_path, resolved_edit
    from engine.train.config import train_config

    if isinstance(recipe, dict):
        recipe = Recipe(model=recipe["model"], edits=list(recipe.get("edit", [])),
                        train=recipe.get("train"))
    config = train_config(recipe.train, overrides, model=recipe.model)
    base = recipe.path.parent if recipe.path else None
    from engine.train.tasks.checks import check_job_data

    check_job_data(recipe, config, base)
    job_id = job_id or (f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(recipe.model['name'])}"
                        f"-{secrets.token_hex(2)}")
    check_job_id(job_id)
    root = check_home()
    job_dir = root / job_id
    if job_dir.exists():
        raise BadInput(f"job {job_id!r} already exists", f"{job_dir} is taken",
                       "pick another job id or remove the old job folder")
    model = {**recipe.model, "weights": resolve_path(recipe.model.get("weights", "none"), base)}
    spec = Recipe(model=model, edits=[resolved_edit(e, base) for e in recipe.edits],
                  train=config.to_dict())
    from engine.atomic import atomic_write_text

    try:
        (job_dir / "checkpoints").mkdir(parents=True)
        atomic_write_text(job_dir / SPEC, dumps(spec))
        write_status(job_dir, job=job_id, status="queued", model=recipe.model["name"],
                     epoch=0, epochs=config.epochs, created=time.time(), dir=str(job_dir))
    except OSError as error:
        import shutil

        shutil.rmtree(job_dir, ignore_errors=True)
        raise WorkFailed(f"cannot create the job folder {job_dir}", error.strerror or str(error),
                         "free some disk space or point PTM_HOME at a writable folder") from None
    return job_dir


def stop(job_ref: str | Path, wait: float = 0.0, say: Callable[[str], None] | None = None) -> JobInfo:
    """Ask a running job to checkpoint and stop, whichever backend runs it; return its state."""
    from engine.jobs.store import find_job

    job_dir = find_job(job_ref)
    if read_status(job_dir).get("backend") == "slurm":
        from engine.jobs.slurm.submit import stop as stop_slurm

        return stop_slurm(job_dir, wait, say)
    return stop_here(job_dir, wait, say)


def runner_command(job_dir: Path, nproc: int = 1, nnodes: int = 1,
                   rdzv_endpoint: str | None = None, joining: bool = False) -> list[str]:
    """Return the command that runs the job: the runner, or torchrun over it for DDP.

    `joining`: this host joins a rendezvous that the launching host hosts (`ptm-tui join`).
    """
    runner = ["-m", "engine.jobs.runner", str(job_dir)]
    if nproc <= 1 and nnodes <= 1:
        return [sys.executable, *runner]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
           f"--nnodes={nnodes}"]
    if rdzv_endpoint:
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}",
                f"--rdzv-id={job_dir.name}"] + (["--rdzv-conf=is_host=false"] if joining else [])
    elif nnodes > 1:
        raise BadInput("several nodes need a rendezvous endpoint", f"--nnodes {nnodes}",
                       "pass --rdzv-endpoint HOST:PORT (the same on every node)")
    else:
        cmd += ["--standalone"]
    return cmd + runner


def launch(job_dir: str | Path, nproc: int = 1, nnodes: int = 1, rdzv_endpoint: str | None = None,
           env: dict[str, str] | None = None, fork: bool = False) -> Any:
    """Start the job in its own session (it outlives this process and the terminal); return it
    (a subprocess.Popen, or a ForkedRunner).

    The job's lock is taken first and handed to the new process: a job never has two runners.
    `fork`: one process forked from this one (which has imported torch already) runs the job,
    not a new python; torchrun jobs always start anew.
    """
    from engine.jobs import lock
    from engine.jobs.folder_guard import open_for_append
    from engine.jobs.store import process_start_time

    job_dir = Path(job_dir)
    check_processes(nproc, nnodes)
    cmd = runner_command(job_dir, nproc, nnodes, rdzv_endpoint)
    fd = lock.take(job_dir, starting=True)
    try:
        clear_stop_request(job_dir)  # a request left from an earlier run must not stop this one
        write_status(job_dir, status="queued", pid=None, pid_start=None, worker_pid=None,
                     worker_pid_start=None, worker_host=None, host=this_host(),
                     nproc=nproc, nnodes=nnodes,
                     rdzv_endpoint=rdzv_endpoint, queued=time.time())
        with open_for_append(job_dir / "log.txt") as log:  # never through a link
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            try:
                if fork and nproc == 1 and nnodes == 1 and not env:
                    from engine.jobs.forked import fork_runner

                    proc = fork_runner(job_dir, log.fileno(), fd)
                else:
                    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            pass_fds=(fd,),
                                            env={**os.environ, **(env or {}), lock.FD_ENV: str(fd)})
            except OSError as error:
                write_status(job_dir, status="failed", message=f"could not start: {error}")
                raise WorkFailed("could not start the job", str(error),
                                 "check that python and torch run here") from error
        lock.write_holder(fd, proc.pid)
        write_status(job_dir, pid=proc.pid, pid_start=process_start_time(proc.pid))
    finally:
        os.close(fd)  # the runner holds its own copy of the lock now
    return proc


def check_processes(nproc: int, nnodes: int = 1) -> None:
    """Refuse process counts that cannot work: at least 1, at most the devices (or cores)."""
    if nproc < 1 or nnodes < 1:
        raise BadInput("--nproc-per-node and --nnodes must be at least 1",
                       f"got {nproc} and {nnodes}", "use e.g. --nproc-per-node 2")
    import torch

    gpus = torch.cuda.device_count()  # through NVML: no CUDA context, so a fork stays usable
    limit, what = (gpus, f"{gpus} GPUs") if gpus else \
        (os.cpu_count() or 1, f"{os.cpu_count() or 1} CPU cores and no GPU")
    if nproc > limit:
        raise BadInput(f"--nproc-per-node {nproc} is more than this machine has",
                       f"it has {what}; each process trains on one of them",
                       f"use --nproc-per-node {limit} or fewer")


def check_job_code(job_dir: Path, trust_code: bool) -> None:
    """Raise CodeRefused when a job folder from elsewhere (outside this user's jobs root) has a
    recipe naming code and the user has not passed --trust-code; a job launched here is the
    user's own recipe, run by name."""
    from engine.edit.recipe import load
    from engine.jobs.store import jobs_root
    from engine.models.trust import check_code_allowed

    if job_dir.resolve().is_relative_to(jobs_root().resolve()):
        return
    spec = job_dir / "spec.toml"
    check_code_allowed(load(spec).model.get("name"), f"the recipe of job folder {spec}", trust_code)


def resume(job_ref: str | Path, env: dict[str, str] | None = None,
           nproc: int | None = None, trust_code: bool = False) -> tuple[Path, subprocess.Popen]:
    """Relaunch a stopped, failed or interrupted job from its newest complete checkpoint."""
    from engine.jobs.store import find_job

    job_dir = find_job(job_ref)
    check_job_code(job_dir, trust_code)
    info = job_info(job_dir)
    if info.active:
        raise BadInput(f"job {info.job} is already running",
                       f"pid {info.pid}" if info.pid else "it is being launched",
                       f"stop it first with `ptm-tui stop {info.job}`")
    if info.status.startswith("unreadable"):
        raise BadInput(f"job {info.job} cannot be resumed", info.message,
                       f"fix or delete {job_dir / 'status.json'}, then resume it")
    if info.status == "done":
        raise BadInput(f"job {info.job} has finished all {info.epochs} epochs",
                       "there is nothing left to train", "launch a new job to train longer")
    status = read_status(job_dir)
    if status.get("backend") == "slurm":
        from engine.jobs.slurm.submit import resubmit

        return job_dir, resubmit(job_dir)
    proc = launch(job_dir, nproc=nproc or int(status.get("nproc") or 1),
                  nnodes=int(status.get("nnodes") or 1),
                  rdzv_endpoint=status.get("rdzv_endpoint"), env=env)
    return job_dir, proc


def join(job_ref: str | Path, nproc: int | None = None, env: dict[str, str] | None = None,
         trust_code: bool = False) -> tuple[Path, Path, subprocess.Popen]:
    """Start this host's share of a multi-host job; return (job folder, its log, the process).

    The job folder must be on storage every host sees at the same path (as torchrun users
    keep their code and data): every rank reads the same spec.toml and resumes from the same
    checkpoint, and rank 0 alone writes checkpoints, metrics and status.json. This host's
    processes log to their own file in the job folder; the job's lock stays with the host
    that launched it.
    """
    import socket

    from engine.jobs.folder_guard import open_for_append
    from engine.jobs.store import find_job

    job_dir = find_job(job_ref)
    check_job_code(job_dir, trust_code)
    info = job_info(job_dir)
    status = read_status(job_dir)
    nnodes, endpoint = int(status.get("nnodes") or 1), status.get("rdzv_endpoint")
    if nnodes < 2 or not endpoint:
        raise BadInput(f"job {info.job} runs on one host", f"it was launched with --nnodes {nnodes}",
                       "launch it with --nnodes N --rdzv-endpoint HOST:PORT, then join it")
    if not info.active:
        raise BadInput(f"job {info.job} is not running", f"its status is {info.status}",
                       "launch or resume it on the first host, then join it")
    nproc = nproc or int(status.get("nproc") or 1)
    check_processes(nproc, nnodes)
    cmd = runner_command(job_dir, nproc, nnodes, endpoint, joining=True)
    log_path = job_dir / f"log.{socket.gethostname()}.{os.getpid()}.txt"
    with open_for_append(log_path) as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, **(env or {})})
        except OSError as error:
            raise WorkFailed("could not join the job", str(error),
                             "check that python and torch run here") from error
    return job_dir, log_path, proc
