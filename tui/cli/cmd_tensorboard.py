"""`ptm-tui tensorboard [JOB]`: the command that shows jobs in TensorBoard, and the SSH port
forward that brings it to your laptop."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `tensorboard` subcommand."""
    parser = subparsers.add_parser(
        "tensorboard",
        help="print the command that shows jobs in TensorBoard, and its SSH port forward",
        description="Every job writes TensorBoard event files in <job>/tensorboard (the figures of "
        "metrics.jsonl). This prints the `tensorboard` command for one job (or all of them) and "
        "the `ssh -L` line to run on your own machine when this one is a remote server.",
    )
    parser.add_argument("job", nargs="?", default=None, help="job id or unique prefix (default: every job)")
    parser.add_argument("--port", type=int, default=6006, help="the port TensorBoard listens on (6006)")
    parser.add_argument("--json", action="store_true", help="print the command and forward as JSON")
    parser.set_defaults(func=run)


def server_address() -> str:
    """Return the address the user's ssh reached this server at (SSH_CONNECTION's third field),
    else this host's name (which may resolve only here)."""
    import ipaddress
    import os
    import socket

    parts = os.environ.get("SSH_CONNECTION", "").split()
    if len(parts) == 4:
        try:
            return str(ipaddress.ip_address(parts[2]))
        except ValueError:
            pass
    return socket.getfqdn()


def commands(job: str | None, port: int) -> dict[str, str]:
    """Return the tensorboard command, the ssh port-forward line and the address to open."""
    import getpass
    import shlex

    from engine.jobs.store import find_job, jobs_root
    from engine.train.tensorboard import FOLDER

    logdir = find_job(job) / FOLDER if job else jobs_root()
    return {
        "logdir": str(logdir),
        "command": f"tensorboard --logdir {shlex.quote(str(logdir))} --port {port}",
        "forward": f"ssh -N -L {port}:localhost:{port} {getpass.getuser()}@{server_address()}",
        "open": f"http://localhost:{port}",
    }


def run(args: argparse.Namespace) -> int:
    """Print the lines (or JSON); say when tensorboard or the job's event files are missing."""
    import importlib.util
    from pathlib import Path

    from engine.errors import BadInput
    from engine.text import printable
    from tui.cli.output import print_json

    if not 1 <= args.port <= 65535:
        raise BadInput(f"--port {args.port} is not a port", "ports are 1 to 65535", "use e.g. --port 6006")
    lines = commands(args.job, args.port)
    if args.json:
        print_json(lines)
        return 0
    print(f"run this here:             {printable(lines['command'])}")
    print(f"then on your own machine:  {printable(lines['forward'])}")
    print(f"and open:                  {lines['open']}")
    if importlib.util.find_spec("tensorboard") is None:
        print("note: tensorboard is not installed here: pip install 'ptm-tui[tensorboard]'", file=sys.stderr)
    if args.job and not Path(lines["logdir"]).is_dir():
        print(
            "note: this job has no event files yet (it has not started, or ran without tensorboard)",
            file=sys.stderr,
        )
    return 0
