"""`ptm-tui join JOB`: this host's share of a job launched with --nnodes on another host."""

from __future__ import annotations

import argparse
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `join` subcommand."""
    parser = subparsers.add_parser(
        "join", help="join a multi-host finetune job from another host (shared job folder)",
        description="Start this host's processes of a job launched elsewhere with `finetune "
        "--nnodes N --rdzv-endpoint HOST:PORT`. The job folder ($PTM_HOME/jobs/JOB) and the "
        "data must be on storage every host sees at the same path: every rank reads the same "
        "recipe and checkpoint, and rank 0 alone writes checkpoints and status. This host's "
        "processes log to log.<host>.<pid>.txt in the job folder. `ptm-tui stop JOB` on any "
        "host stops every rank at the same step.")
    parser.add_argument("job", help="job id (or a unique prefix of it, or its folder)")
    parser.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                        help="processes on this host (default: as the job was launched)")
    parser.add_argument("--detach", action="store_true", help="return at once")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Join the job; wait for this host's processes unless --detach; return the exit code."""
    from rich.markup import escape

    from engine.jobs.launch import join
    from tui.cli.output import print_json, stderr, stdout

    job_dir, log, proc = join(args.job, nproc=args.nproc_per_node, trust_code=args.trust_code)
    if args.detach:
        if args.json:
            print_json({"job": job_dir.name, "pid": proc.pid, "log": str(log)})
        else:
            stdout.print(f"joined job [bold]{escape(job_dir.name)}[/] (pid {proc.pid}); "
                         f"log: {escape(str(log))}", highlight=False)
        return 0
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        stderr.print(f"left running (pid {proc.pid}); stop the job (from any host) with "
                     f"`ptm-tui stop {escape(job_dir.name)}`", highlight=False)
        return 130
    if args.json:
        print_json({"job": job_dir.name, "pid": proc.pid, "log": str(log), "exit_code": code})
    elif code:
        stderr.print(f"ptm-tui: this host's processes ended with code {code}; see "
                     f"{escape(str(log))}", highlight=False)
    return 0 if code == 0 else 1
