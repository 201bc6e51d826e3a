"""The job process: `python -m engine.jobs.runner JOB_DIR` trains the job's spec and records it.

Rank 0 alone writes status.json, metrics.jsonl and checkpoints. SIGTERM/SIGINT, or a stop request
in the job folder (`ptm-tui stop` from any host), checkpoint and stop cleanly; SIGHUP is ignored
so a dropped SSH connection does not end the job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from engine.errors import PtmError
from engine.jobs.folder_guard import LockedFolder
from engine.jobs.stopping import STOP_REQUEST, stop_request
from engine.jobs.store import process_start_time, read_status, this_host
from engine.text import printable

STOP = {"asked": False}
"""Set by SIGTERM/SIGINT or a stop request file; the training loop checks it after every step."""


def _on_signal(signum: int, _frame: Any) -> None:
    if not STOP["asked"]:
        _log(f"got {signal.Signals(signum).name}: saving a checkpoint and stopping")
    STOP["asked"] = True


def install_signal_handlers() -> None:
    """SIGTERM/SIGINT ask for a checkpoint and a clean stop; SIGHUP is ignored."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def trim_metrics(job_dir: Path, epoch: int, step: int) -> None:
    """Drop metrics recorded after checkpoint position (epoch, step): a resume redoes them."""
    from engine.atomic import atomic_write_text
    from engine.jobs.store import read_metrics

    kept = []
    for record in read_metrics(job_dir):
        if record.get("kind") == "step":
            e, s = int(record.get("epoch", 0)), int(record.get("step", 0))
            if e <= epoch or (e == epoch + 1 and s <= step):
                kept.append(record)
        elif int(record.get("epoch", 0)) <= epoch:
            kept.append(record)
    atomic_write_text(job_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept))


def hold_lock(job_dir: Path, under_torchrun: bool) -> int | None:
    """Keep the job's runner lock for this process's life (torchrun's agent holds it for its ranks)."""
    from engine.jobs import lock
    from engine.train.data import HELD_LOCK_ENV

    fd = lock.inherited()
    if under_torchrun:
        return None
    fd = fd if fd is not None else lock.take(job_dir)
    os.environ[HELD_LOCK_ENV] = str(fd)  # loader workers close their copy
    return fd


def _say_folder_changed(folder: LockedFolder, why: str) -> None:
    """Say in the log that the job folder went away or was replaced, and record the failure."""
    message = (f"the job folder {folder.path} {why} while the job ran: stopped without writing "
               "into it")
    print(f"{time.strftime('%H:%M:%S')} {printable(message)}", file=sys.stderr, flush=True)
    # A folder being deleted (gone, or its spec.toml already removed) gets nothing more: a
    # file written now would make `rm -r` fail. One put in its place is left alone too.
    gone = why.startswith("was removed")
    not_recorded = "it is being deleted" if gone else folder.record_failure(message)
    if not_recorded:
        print(f"{time.strftime('%H:%M:%S')} the failure is not in status.json: {not_recorded}",
              file=sys.stderr, flush=True)


def _folder_changed(folder: LockedFolder) -> str:
    """Return how the job folder was removed or replaced, in words ("" when it was not)."""
    return folder.changed() or ("" if (folder.path / "spec.toml").is_file()
                                else "was removed (its spec.toml is gone)")


def _see_stop_request(job_dir: Path) -> None:
    """Treat a stop request left in the job folder (`ptm-tui stop` on any host) as SIGTERM."""
    if STOP["asked"]:
        return
    request = stop_request(job_dir)
    if request is not None:
        host = request.get("host")
        unreadable = request.get("unreadable")
        _log(printable("a stop was asked through the job folder"
                       + (f" from host {host}" if isinstance(host, str) else "")
                       + (f" (its {STOP_REQUEST} is not one ptm-tui wrote: {unreadable})"
                          if unreadable else "") + ": saving a checkpoint and stopping"))
        STOP["asked"] = True


def watch_folder(folder: LockedFolder, every: float = 1.0) -> None:
    """Watch the job folder every second: a stop request stops the run as SIGTERM does.

    When the folder is removed or replaced, exit 1 within seconds and write nothing into
    its path afterwards: a runner must never recreate a folder its user deleted, nor write
    into one put in its place (the failure goes into the folder it locked, if it still is).
    """
    import threading

    def look() -> None:
        why = _folder_changed(folder)
        if why:
            _say_folder_changed(folder, why)
            os._exit(1)
        _see_stop_request(folder.path)

    def watch() -> None:
        while True:
            time.sleep(every)
            try:
                look()
            except Exception as error:  # nothing in the folder may end the watch
                _log(printable(f"watching the job folder: {type(error).__name__}: {error}"))

    threading.Thread(target=watch, name="job folder watch", daemon=True).start()


def weights_digest(model: Any) -> str:
    """Return a short sha256 of every parameter (DDP ranks that agree print the same).

    Buffers are left out: each rank's BatchNorm statistics follow its own last batch.
    """
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in model.named_parameters():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _leave_together() -> None:
    """Wait for every rank before tearing the group down.

    Every rank ends run() on the same step, but rank 0 still writes a checkpoint and the
    status; a rank that tears gloo down meanwhile can abort (SIGABRT) at exit.
    """
    import gc

    import torch.distributed as td

    gc.collect()
    td.barrier()


def run_job(job_dir: Path) -> int:
    """Train the job in `job_dir` to its end; return the process exit code."""
    from engine.edit.recipe import build, load
    from engine.jobs.events import JobEvents
    from engine.train.checkpoint import newest_complete, remove_stale_temps
    from engine.train.config import train_config
    from engine.train.data import preprocessing
    from engine.train.dist import from_env, init_process_group, resolve_device
    from engine.train.events import Events
    from engine.train.loop import Trainer
    from engine.train.tasks import task_for
    from engine.use.channels import input_channels

    dist = from_env()
    main = dist.is_main
    try:
        folder = LockedFolder(job_dir, hold_lock(job_dir, "RANK" in os.environ))
    except PtmError as error:
        print(f"ptm-tui runner: {printable(error.message, newlines=True)}", file=sys.stderr,
              flush=True)
        return 2
    watch_folder(folder)
    # The launcher's pid (the torchrun agent under DDP, whose workers run in sessions of
    # their own) is the job's pid, on `host`: `stop` there signals it (or rank 0 under
    # torchrun, on `worker_host`); elsewhere it leaves a request in the job folder.
    status = read_status(job_dir)
    pid = status.get("pid") if isinstance(status.get("pid"), int) else os.getpid()
    here = this_host()
    if main:
        fields: dict[str, Any] = dict(
            status="running", worker_pid=os.getpid(), worker_host=here,
            worker_pid_start=process_start_time(os.getpid()), started=time.time(),
            world=dist.world, message="starting")
        if "RANK" not in os.environ or status.get("host") in (None, here):
            fields.update(pid=pid, pid_start=process_start_time(pid), host=here)
    trainer = None
    try:
        if main:
            folder.write_status(**fields)
        recipe = load(job_dir / "spec.toml")
        config = train_config(recipe.train)
        device = resolve_device(config.device, dist)
        init_process_group(dist, device)
        workbench = build(recipe, device="cpu")
        task = task_for(workbench.model)
        channels = input_channels(workbench.model)  # 1 after `C`: grayscale images
        datasets = task.build_datasets(config, workbench.meta, channels)
        ckpt_dir = job_dir / "checkpoints"
        resume_state = None
        if main:
            remove_stale_temps(ckpt_dir)
        found = newest_complete(ckpt_dir)
        if found is not None:
            path, resume_state = found
            if main:
                _log(f"resuming from {path.name}")
                folder.check()
                trim_metrics(job_dir, int(resume_state["epoch"]), int(resume_state.get("step", 0)))
        events: Events = JobEvents(job_dir, folder) if main else Events()
        if main:
            _log(f"{recipe.model['name']}: {len(datasets.train)} train / {len(datasets.val)} val "
                 f"images, {len(datasets.classes)} classes ({datasets.layout}); {task.name}; device {device}"
                 + (f", {dist.world} processes (DDP)" if dist.enabled else ""))
        trainer = Trainer(workbench.model, config, datasets, checkpoint_dir=ckpt_dir,
                          events=events, should_stop=lambda: STOP["asked"], dist=dist,
                          task=task)
        trainer.before_save = folder.check
        trainer.meaning = {"recipe": {"model": dict(recipe.model), "edit": list(recipe.edits)},
                           "classes": list(datasets.classes), "job": job_dir.name,
                           **datasets.meaning,
                           **preprocessing(config, workbench.meta, channels)}
        if main:
            for group in trainer.groups:
                _log(f"group {group.name}: {len(group.names)} tensors, {group.count:,} params, "
                     f"lr {group.lr:g}, weight decay {group.weight_decay:g}")
            folder.write_status(message="training", epochs=config.epochs,
                                steps=trainer.steps_per_epoch)
        result = trainer.run(resume_state)
        _log(f"rank {dist.rank} of {dist.world} on {socket.gethostname()}: {result.status} at "
             f"epoch {trainer.epoch} step {trainer.step}, weights sha256 "
             f"{weights_digest(trainer.model)}")
        if main:
            ckpt = str(ckpt_dir / result.checkpoint) if result.checkpoint else \
                read_status(job_dir).get("checkpoint")
            folder.write_status(status=result.status, epoch=result.epoch, epochs=result.epochs,
                                best_val_acc=result.best_val_acc, last_val_acc=result.last_val_acc,
                                checkpoint=ckpt, best_checkpoint=result.best_checkpoint,
                                message=result.message, finished=time.time())
            _log(f"{result.status}: {result.message}")
        trainer.close()
        if dist.enabled:
            trainer = None  # DDP's reducer holds gloo work objects: free them while all ranks live
            _leave_together()
        return 1 if result.status == "failed" else 0
    except PtmError as error:
        why = _folder_changed(folder)
        if why:  # removed or replaced under us: say so, write nothing there
            _say_folder_changed(folder, why)
            return 1
        _log(printable(f"failed: {error.message}", newlines=True))
        if main:
            _record_failure(folder, error.message)
        return 1
    except Exception as error:
        why = _folder_changed(folder)
        if why:  # removed or replaced under us: say so, write nothing there
            _say_folder_changed(folder, why)
            return 1
        traceback.print_exc()
        if main:
            _record_failure(folder, f"crashed: {type(error).__name__}: {error} (see log.txt)")
        return 1
    finally:
        if trainer is not None:
            trainer.close()
        import torch.distributed as td

        if td.is_available() and td.is_initialized():
            td.destroy_process_group()


def _record_failure(folder: LockedFolder, message: str) -> None:
    """Write a failed status with `message` into the locked folder, or say in the log why not."""
    not_recorded = folder.record_failure(message)
    if not_recorded:
        _log(f"the failure is not in status.json: {not_recorded}")


def main(argv: list[str] | None = None) -> int:
    """Run the job whose folder is the first argument."""
    install_signal_handlers()  # before torch is imported: a stop while starting is kept
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not (Path(args[0]) / "spec.toml").is_file():
        print("usage: python -m engine.jobs.runner JOB_DIR (a folder with spec.toml)",
              file=sys.stderr)
        return 2
    return run_job(Path(args[0]).resolve())


if __name__ == "__main__":
    sys.exit(main())
