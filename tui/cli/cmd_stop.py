"""`ptm-tui stop JOB`: checkpoint a running job and stop it."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `stop` subcommand."""
    parser = subparsers.add_parser(
        "stop", help="stop a running job (it saves a checkpoint first)",
        description="Ask the job to stop: it finishes the current step, saves a checkpoint and "
        "exits with status 'stopped'; `ptm-tui resume JOB` continues it. Works from any host "
        "that shares the job folder: a request left there reaches the runner within seconds "
        "(on the runner's own host it is also signalled).")
    parser.add_argument("job", help="job id (or a unique prefix of it, or its folder)")
    parser.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for it to stop (default 60; 0 returns at once)")
    parser.add_argument("--json", action="store_true", help="print the job's state as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Stop the job; return 0 when it stopped (or finished), 1 when it failed or still runs."""
    from pathlib import Path

    from engine.jobs.launch import stop
    from tui.cli.cmd_finetune import final_object
    from tui.cli.output import print_json, stderr, stdout
    from tui.cli.output import shown as escape

    info = stop(args.job, wait=args.wait,
                say=lambda text: stderr.print(escape(text), highlight=False))
    final = final_object(Path(info.dir))
    if args.json:
        print_json(final)
    else:
        state = final["status"] if not info.active else \
            ("stop asked" if args.wait <= 0 else "still stopping")
        stdout.print(f"job [bold]{escape(info.job)}[/]: {escape(state)}", highlight=False)
    if info.active:
        if args.wait <= 0:
            return 0
        stderr.print(f"ptm-tui: job {escape(info.job)} did not stop within {args.wait:g}s; "
                     f"`ptm-tui jobs` shows when it does", highlight=False)
        return 1
    if final["status"] not in ("stopped", "done"):
        stderr.print(f"ptm-tui: job {escape(info.job)} ended {escape(final['status'])}: "
                     f"{escape(final['message'])}", highlight=False)
        return 1
    return 0
