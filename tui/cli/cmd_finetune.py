"""`ptm-tui finetune RECIPE`: run a recipe's [train] table as a job (detached or followed)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

# [train] keys that are also flags: (flag, key, type, help)
TRAIN_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--data", "data", str, "ImageFolder root (train/ + val/, or one folder split by --val-split); "
     "COCO JSON for detectors, images/ + masks/ for segmentation"),
    ("--val-split", "val_split", float, "fraction held out when data has no val/ (default 0.2)"),
    ("--val-data", "val_data", str, "a separate validation set (detection: val.json)"),
    ("--images", "images", str, "where a COCO JSON's file_name paths start (default: its folder)"),
    ("--image-size", "image_size", int, "square input size (default: the weights' own transforms)"),
    ("--batch-size", "batch_size", int, "images per step (default 32)"),
    ("--epochs", "epochs", int, "epochs to train (default 10)"),
    ("--optimizer", "optimizer", str, "sgd, adam, adamw or rmsprop (default sgd)"),
    ("--lr", "lr", float, "learning rate of the head; the backbone gets lr/10 (default 0.01)"),
    ("--head-lr", "head_lr", float, "the head's learning rate (then --lr is the backbone's)"),
    ("--backbone-lr", "backbone_lr", float, "the backbone's learning rate"),
    ("--momentum", "momentum", float, "momentum for sgd/rmsprop (default 0.9)"),
    ("--weight-decay", "weight_decay", float, "weight decay, never on biases/norms (1e-4)"),
    ("--scheduler", "scheduler", str, "none, cosine, step or onecycle (default cosine)"),
    ("--seed", "seed", int, "seed of the split, the batch order and dropout (default 0)"),
    ("--device", "device", str, "auto, cpu, cuda or cuda:N (default auto)"),
    ("--workers", "workers", int, "data loader processes (default min(8, cores/2))"),
    ("--augment", "augment", str, "comma list of crop, flip, color (default none)"),
    ("--head-epochs", "head_epochs", int, "train only the head for this many epochs first"),
    ("--keep-last", "keep_last", int, "checkpoints to keep besides the best (default 2)"),
    ("--label-smoothing", "label_smoothing", float, "label smoothing of the training loss (e.g. 0.1)"),
    ("--clip-grad-norm", "clip_grad_norm", float, "clip the gradients' norm to this (0: off)"),
    ("--accumulate-steps", "accumulate_steps", int, "batches per update (gradient accumulation)"),
    ("--warmup-epochs", "warmup_epochs", int, "epochs of linear lr warmup (0: off)"),
    ("--warmup-decay", "warmup_decay", float, "the warmup starts at lr x this (default 0.01)"),
    ("--early-stopping", "early_stopping", int, "stop after this many epochs without a better val score"),
    ("--ema-decay", "ema_decay", float, "keep an EMA of the weights with this decay (e.g. 0.9998)"),
    ("--ema-steps", "ema_steps", int, "optimizer updates between EMA updates (default 32)"),
    ("--auto-augment", "auto_augment", str, "none, ra, ta_wide, augmix or imagenet (default none)"),
    ("--random-erasing", "random_erasing", float, "probability of RandomErasing per image (0: off)"),
    ("--mixup-alpha", "mixup_alpha", float, "MixUp per batch with this alpha (0: off)"),
    ("--cutmix-alpha", "cutmix_alpha", float, "CutMix per batch with this alpha (0: off)"),
    ("--preset", "preset", str, "quick (the defaults) or torchvision (the recipe that trained the weights, "
     "scaled for finetuning) fills the keys the recipe leaves unset"),
    ("--class-balance", "class_balance", str, "none, weights (loss weights from class counts) or sampler"),
    ("--layer-decay", "layer_decay", float, "ViT-style models: lr x this per layer down from the top "
     "(timm's layer decay; 1: off)"),
]


def add_launch_flags(parser: argparse.ArgumentParser) -> None:
    """Add --detach, --json and the torchrun flags."""
    parser.add_argument("--detach", action="store_true",
                        help="start the job and return at once (it survives logout)")
    parser.add_argument("--json", action="store_true",
                        help="JSON lines on stdout; the last line is the job's final state")
    parser.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                        help="run under torchrun with N processes (DDP: nccl on CUDA, gloo on CPU)")
    parser.add_argument("--nnodes", type=int, default=1, help="hosts taking part (torchrun)")
    parser.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT",
                        help="torchrun rendezvous endpoint for several hosts")


def register(subparsers: Any) -> None:
    """Add the `finetune` subcommand."""
    parser = subparsers.add_parser(
        "finetune", help="finetune a recipe's model on an image folder, as a job",
        description="Run the recipe (model + edits) with its [train] table (flags override it) "
        "as a job in its own process under $PTM_HOME/jobs. Without --detach, follow it with a "
        "progress bar per epoch; Ctrl-C stops it with a checkpoint (resume it later).")
    parser.add_argument("recipe", help="the recipe file (.toml) with a [train] table")
    for flag, key, kind, text in TRAIN_FLAGS:
        parser.add_argument(flag, dest=f"train_{key}", type=kind, default=None, help=text)
    parser.add_argument("--amp", dest="train_amp", nargs="?", const="auto", default=None,
                        choices=("auto", "bf16", "fp16", "off"),
                        help="mixed precision on whichever device trains: bf16, fp16 (with a GradScaler) "
                        "or off; bare --amp (the default): bf16 on a GPU that has it, fp32 elsewhere")
    parser.add_argument("--no-amp", dest="train_amp", action="store_const", const="off",
                        help="train in fp32 (= --amp off)")
    parser.add_argument("--compile", dest="train_compile", action=argparse.BooleanOptionalAction,
                        default=None, help="torch.compile the model (default off; slow to start)")
    parser.add_argument("--channels-last", dest="train_channels_last",
                        action=argparse.BooleanOptionalAction, default=None,
                        help="channels_last memory format (faster convs on recent GPUs)")
    parser.add_argument("--force", dest="train_force", action="store_true", default=None,
                        help="accept --workers above 2x the cores and --image-size above 4096")
    parser.add_argument("--estimate-memory", action="store_true",
                        help="print the peak memory of one training step (weights, gradients, optimizer "
                        "state, activations; computed on fake tensors) beside the device's free memory, "
                        "and start no job")
    parser.add_argument("--show-config", action="store_true",
                        help="print the resolved [train] settings and where each came from "
                        "(default, preset, recipe file, CLI flag); start nothing")
    parser.add_argument("--job-id", default=None,
                        help="name the job: 1-64 letters, digits, '.', '_', '-' "
                        "(default: time-model-xxxx)")
    add_launch_flags(parser)
    from tui.cli.slurm_flags import add_slurm_flags

    add_slurm_flags(parser)
    parser.set_defaults(func=run)


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """Return the [train] values given as flags."""
    prefix = "train_"
    return {k[len(prefix):]: v for k, v in vars(args).items()
            if k.startswith(prefix) and v is not None}


def final_object(job_dir: Path) -> dict[str, Any]:
    """Return the job's state as the CLI prints it in JSON."""
    from engine.jobs.store import job_info

    info = job_info(job_dir)
    return {"job": info.job, "status": info.status, "epoch": info.epoch, "epochs": info.epochs,
            "best_val_acc": info.best_val_acc, "last_val_acc": info.last_val_acc,
            "checkpoint": info.checkpoint, "pid": info.pid, "dir": info.dir,
            "message": info.message, **({"slurm": info.slurm} if info.slurm else {})}


def follow(job_dir: Path, proc: Any, as_json: bool) -> int:
    """Show the running job (a bar per epoch, or JSON lines) until it ends; return the exit code."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.errors import BadInput
    from engine.jobs.launch import stop
    from engine.jobs.store import read_metrics, read_status
    from tui.cli.output import print_json, stderr

    seen = len([r for r in read_metrics(job_dir) if r.get("kind") == "epoch"])
    # Ctrl-C is counted by a handler, not caught as KeyboardInterrupt: a KeyboardInterrupt
    # raised inside a finalizer or a library's cleanup is swallowed ("Exception ignored in"),
    # and the exit code depended on where it landed. A counter cannot be lost.
    presses = [0]
    previous = signal.signal(signal.SIGINT, lambda _s, _f: presses.__setitem__(0, presses[0] + 1))
    stop_sent = False
    score = "val acc"  # the task's score, named by each epoch record
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
    try:
        with Progress(*columns, console=stderr, disable=as_json, transient=True) as progress:
            task, shown = None, ""
            while True:
                if presses[0] >= 2:
                    stderr.print(f"left running; `ptm-tui jobs` shows it ({job_dir.name})")
                    return 130
                if presses[0] and not stop_sent:
                    stop_sent = True
                    stderr.print("stopping: saving a checkpoint (Ctrl-C again to leave it running)")
                    with contextlib.suppress(BadInput):  # it ended meanwhile
                        stop(job_dir, wait=0)
                done = proc.poll() is not None
                status = read_status(job_dir)
                epochs = [r for r in read_metrics(job_dir) if r.get("kind") == "epoch"]
                for record in epochs[seen:]:
                    score = str(record.get("score") or score)
                    if as_json:
                        print_json(record)
                    else:
                        progress.console.print(
                            f"epoch {record['epoch']}/{status.get('epochs')}: train loss "
                            f"{record['train_loss']:.4f}, {score} "
                            f"{record['val_acc']:.2f}%")
                seen = len(epochs)
                epoch, steps = int(status.get("epoch", 0)), int(status.get("steps", 0) or 0)
                if steps and status.get("status") == "running" and not as_json:
                    label = f"epoch {epoch + 1}/{status.get('epochs')}"
                    loss = status.get("train_loss")
                    info = f"loss {loss:.4f}" if isinstance(loss, (int, float)) else ""
                    if task is None or shown != label:
                        if task is not None:
                            progress.remove_task(task)
                        task, shown = progress.add_task(label, total=steps, info=info), label
                    progress.update(task, completed=int(status.get("step", 0)), info=info)
                if done:
                    break
                time.sleep(0.1 if presses[0] else 0.25)
    finally:
        signal.signal(signal.SIGINT, previous)
    interrupted = presses[0] > 0
    final = final_object(job_dir)
    if as_json:
        print_json(final)
    else:
        _print_final(final, score)
    if final["status"] == "failed" or final["status"].startswith("failed"):
        if as_json:
            from tui.cli.output import shown as safe

            stderr.print(f"ptm-tui: job {safe(final['job'])} failed: {safe(final['message'])}",
                         highlight=False)
        return 1
    return 130 if interrupted else 0


def _print_final(final: dict[str, Any], score: str = "val acc") -> None:
    from tui.cli.output import shown as escape
    from tui.cli.output import stderr, stdout

    best, last = final["best_val_acc"], final["last_val_acc"]
    color = {"done": "green", "stopped": "yellow"}.get(final["status"], "red")
    stdout.print(f"job [bold]{escape(final['job'])}[/]: [{color}]{escape(final['status'])}[/] after "
                 f"{final['epoch']}/{final['epochs']} epochs", highlight=False)
    if best is not None:
        stdout.print(f"  {score}: best {best:.2f}%, last {last:.2f}%", highlight=False)
    if final["checkpoint"]:
        stdout.print(f"  checkpoint: {escape(str(final['checkpoint']))}", highlight=False)
    if final["status"] != "done" and final["message"]:
        stderr.print(f"  {escape(final['message'])}", highlight=False)


def start(job_dir: Path, args: argparse.Namespace, proc: Any) -> int:
    """Print the job at once (--detach) or follow it; return the exit code."""
    from rich.markup import escape

    from tui.cli.output import print_json, stdout

    if args.detach:
        where = proc.describe() if hasattr(proc, "describe") else f"pid {proc.pid}"
        if args.json:
            print_json(final_object(job_dir))
        else:
            stdout.print(f"started job [bold]{escape(job_dir.name)}[/] ({escape(where)}) in "
                         f"{escape(str(job_dir))}\n  follow it: ptm-tui jobs   stop it: "
                         f"ptm-tui stop {escape(job_dir.name)}", highlight=False)
        return 0
    return follow(job_dir, proc, args.json)


def _warn(recipe: Any, overrides: dict[str, Any]) -> None:
    """Check the [train] values (BadInput, exit 2, before a job exists) and print their warnings."""
    from engine.train.config import train_config
    from engine.train.recipe_keys import config_warnings
    from tui.cli.output import stderr

    for line in config_warnings(train_config(recipe.train, overrides, model=recipe.model)):
        stderr.print(line, highlight=False, markup=False)


def run(args: argparse.Namespace) -> int:
    """Create the job, launch it, and return the exit code."""
    from engine.edit import recipe as recipes
    from engine.jobs.launch import check_processes, create_job, launch

    recipe = recipes.load(args.recipe)
    _warn(recipe, overrides_from(args))
    if args.show_config:
        from tui.cli.show_config import print_config

        return print_config(recipe, overrides_from(args), args.json)
    if args.estimate_memory:
        from tui.cli.memory_estimate import print_estimate

        return print_estimate(recipe, args, overrides_from(args))
    if not args.slurm:  # a Slurm job's device is on the node it gets, not here
        from engine.train.config import train_config
        from engine.train.device_check import check_training_device

        check_training_device(train_config(recipe.train, overrides_from(args), model=recipe.model))
    if args.slurm:
        from tui.cli.slurm_flags import slurm_options, submit_new

        options = slurm_options(args, recipe.slurm)  # checked before the job folder is made
        job_dir = create_job(recipe, overrides_from(args), job_id=args.job_id)
        return start(job_dir, args, submit_new(job_dir, options))
    nproc = 1 if args.nproc_per_node is None else args.nproc_per_node
    check_processes(nproc, args.nnodes)
    job_dir = create_job(recipe, overrides_from(args), job_id=args.job_id)
    # followed here: fork the runner from this process, which has imported torch already
    proc = launch(job_dir, nproc=nproc, nnodes=args.nnodes,
                  rdzv_endpoint=args.rdzv_endpoint, fork=not args.detach)
    return start(job_dir, args, proc)
