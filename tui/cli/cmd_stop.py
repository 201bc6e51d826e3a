"""`ptm-tui stop JOB`: checkpoint a running job and stop it."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `stop` subcommand."""
    parser = subparsers.add_parser(
        "stop", help="stop a running job (it saves a checkpoint first)",
        description="Send SIGTERM to the job's process group: it finishes the current step, "
        "saves a checkpoint and exits with status 'stopped'. `ptm-tui resume JOB` continues it.")
    parser.add_argument("job", help="job id (or a unique prefix of it, or its folder)")
    parser.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for it to stop (default 60; 0 returns at once)")
    parser.add_argument("--json", action="store_true", help="print the job's state as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Stop the job and return the exit code."""
    from rich.markup import escape

    from engine.jobs.launch import stop
    from tui.cli.cmd_finetune import final_object
    from tui.cli.output import print_json, stdout

    info = stop(args.job, wait=args.wait)
    final = final_object(__import__("pathlib").Path(info.dir))
    if args.json:
        print_json(final)
    else:
        state = final["status"] if not info.active else "stopping (still saving)"
        stdout.print(f"job [bold]{escape(info.job)}[/]: {state}", highlight=False)
    return 0
