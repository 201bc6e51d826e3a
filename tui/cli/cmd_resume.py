"""`ptm-tui resume JOB`: continue a stopped or interrupted job from its newest checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `resume` subcommand."""
    parser = subparsers.add_parser(
        "resume", help="continue a stopped or interrupted job from its newest checkpoint",
        description="Relaunch the job from its newest complete checkpoint (model, optimizer, "
        "scheduler, epoch and RNG state).")
    parser.add_argument("job", help="job id (or a unique prefix of it, or its folder)")
    parser.add_argument("--detach", action="store_true", help="return at once")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout")
    parser.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                        help="processes under torchrun (default: as the job was launched)")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resume the job and return the exit code."""
    from engine.jobs.launch import resume
    from tui.cli.cmd_finetune import start

    job_dir, proc = resume(args.job, nproc=args.nproc_per_node, trust_code=args.trust_code)
    return start(job_dir, args, proc)
