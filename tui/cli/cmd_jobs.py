"""`ptm-tui jobs`: every finetune job with its state, progress and best accuracy."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `jobs` subcommand."""
    parser = subparsers.add_parser(
        "jobs", help="list finetune jobs (state, epoch, best val accuracy)",
        description="List the jobs under $PTM_HOME/jobs. A job whose process is gone while its "
        "status says running is shown as 'failed (process died)'; a job whose process runs on "
        "another host (shared job folder) shows that host, and its status as written there. A job "
        "submitted with --slurm shows its Slurm job id and state (squeue, else sacct).")
    parser.add_argument("--json", action="store_true", help="one JSON object per job per line")
    parser.set_defaults(func=run)


def _pct(value: float | None) -> str:
    return f"{value:.2f}%" if value is not None else "-"


def run(args: argparse.Namespace) -> int:
    """Print the jobs and return 0."""
    from engine.jobs.store import jobs_root, list_jobs
    from tui.cli.output import print_json, stdout

    jobs = list_jobs()
    if args.json:
        for info in jobs:
            print_json(info.to_dict())
        return 0
    if not jobs:
        stdout.print(f"no jobs yet in {jobs_root()} (start one with `ptm-tui finetune RECIPE`)")
        return 0
    from rich import box
    from rich.table import Column, Table

    from engine.text import printable
    from tui.cli.output import shown as escape

    # the job id (which names the model) is what `resume`/`stop` take: never cut it
    job = Column("job", no_wrap=True, min_width=max(len(printable(info.job)) for info in jobs))
    # a host column only when some job's process runs on another host (its pid is that host's)
    hosts = any(info.elsewhere for info in jobs)
    # a slurm column (job id, state, reason or nodes) only when some job ran under Slurm
    slurm = any(info.slurm for info in jobs)
    names = ("status", "epoch", "best", "last", "pid") + (("host",) if hosts else ()) \
        + (("slurm",) if slurm else ())
    rest = [Column(name, no_wrap=True) for name in names]
    table = Table(job, *rest, box=box.SIMPLE_HEAD, pad_edge=False)
    for info in jobs:
        color = {"running": "cyan", "done": "green", "stopped": "yellow",
                 "queued": "white"}.get(info.status, "red")
        host = (escape(info.host) if info.elsewhere else "-",) if hosts else ()
        if slurm:
            host += (escape((info.slurm or {}).get("text") or "-"),)
        table.add_row(escape(info.job), f"[{color}]{escape(info.status)}[/]",
                      f"{info.epoch}/{info.epochs or '?'}", _pct(info.best_val_acc),
                      _pct(info.last_val_acc),
                      "-" if info.slurm or not info.active else str(info.pid or "-"), *host)
    stdout.print(table)
    return 0
