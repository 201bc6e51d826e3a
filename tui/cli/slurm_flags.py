"""`ptm-tui finetune RECIPE --slurm ...`: the flags that submit a job to Slurm instead of running it here."""

from __future__ import annotations

import argparse
from typing import Any

FLAGS: list[tuple[str, str, Any, str]] = [
    ("--partition", "partition", str, "Slurm partition (default: the cluster's default)"),
    ("--time", "time", str, "time limit: MINUTES, HH:MM:SS or DAYS-HH:MM:SS"),
    ("--nodes", "nodes", int, "nodes (each runs --nproc-per-node tasks; default 1)"),
    ("--gpus-per-node", "gpus_per_node", int, "GPUs per node (and a task per GPU)"),
    ("--cpus-per-task", "cpus_per_task", int, "CPUs per task (data loader workers use them)"),
    ("--mem", "mem", str, "memory per node, e.g. 32G"),
    ("--account", "account", str, "Slurm account to charge"),
    ("--qos", "qos", str, "Slurm quality of service"),
    (
        "--time-warning",
        "warn_seconds",
        int,
        "seconds before the time limit at which the job saves a checkpoint and requeues itself (default 120)",
    ),
    ("--max-requeues", "max_requeues", int, "times the job may requeue itself (default 3)"),
]


def add_slurm_flags(parser: argparse.ArgumentParser) -> None:
    """Add --slurm and the Slurm resource flags."""
    group = parser.add_argument_group(
        "Slurm",
        "submit the job with sbatch instead of running it here ([slurm] in the recipe holds the same keys)",
    )
    group.add_argument(
        "--slurm",
        action="store_true",
        help="submit to Slurm; the job folder must be on storage the nodes share",
    )
    for flag, key, kind, text in FLAGS:
        group.add_argument(flag, dest=f"slurm_{key}", type=kind, default=None, help=text)
    group.add_argument(
        "--slurm-arg",
        dest="slurm_args",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="any other sbatch option, e.g. constraint=a100 (repeat it)",
    )


def slurm_options(args: argparse.Namespace, table: dict[str, Any] | None) -> Any:
    """Return the SlurmOptions of the recipe's [slurm] table and the flags (raise BadInput)."""
    from engine.jobs.slurm.options import options_from
    from engine.jobs.slurm.submit import need

    need("sbatch")
    prefix = "slurm_"
    flags = {k[len(prefix) :]: v for k, v in vars(args).items() if k.startswith(prefix)}
    flags["args"] = flags.pop("args", None)
    if args.nproc_per_node is not None:
        flags["tasks_per_node"] = args.nproc_per_node
    return options_from(table, flags)


def submit_new(job_dir: Any, options: Any) -> Any:
    """Submit a new job folder; when Slurm refuses it, remove the folder and raise Slurm's words."""
    import shutil

    from engine.errors import PtmError
    from engine.jobs.slurm.submit import submit

    try:
        return submit(job_dir, options)
    except PtmError:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
