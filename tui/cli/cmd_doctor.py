"""`ptm-tui doctor`: what this machine has for ptm-tui (versions, GPUs, caches, network, tools), and
what to do about each thing that is not fine."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from typing import Any

TAGS = {"ok": "[ok]  ", "info": "[--]  ", "warn": "[warn]", "fail": "[FAIL]"}


def register(subparsers: Any) -> None:
    """Add the `doctor` subcommand."""
    parser = subparsers.add_parser(
        "doctor",
        help="check this machine: versions, GPUs, caches, weights servers, Slurm/tmux/Graphviz, $PTM_HOME",
        description="Report what this machine has for ptm-tui, one line each, and the fix for every "
        "line that is not fine. The weights servers are asked with 2-second timeouts (the Hub not "
        "at all under HF_HUB_OFFLINE). Exits 0 whenever the checks ran, whatever they found "
        "(as `python -m torch.utils.collect_env` and `flutter doctor` do): read the states in --json.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON line per check: section, name, state (ok/info/warn/fail), value, fix, details",
    )
    parser.add_argument("--offline", action="store_true", help="ask no server (skip the network checks)")
    parser.set_defaults(func=run)


def report_width() -> int:
    """Return the columns to wrap the report at: $COLUMNS, else the terminal's; 0 (lines stay whole)
    when the report goes to a pipe or a file."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else 0


def hanging(first: str, text: str, columns: int) -> str:
    """Return `first` + `text` wrapped at word breaks to `columns` (0: one line), the lines after the
    first indented under the text's start."""
    if columns <= 0:
        return first + text
    room = max(columns - len(first), 24)
    return textwrap.fill(
        text,
        room + len(first),
        initial_indent=first,
        subsequent_indent=" " * len(first),
        break_on_hyphens=False,
    )


def run(args: argparse.Namespace) -> int:
    """Print the checks; return 0 (a report with problems is still a report)."""
    from dataclasses import asdict

    from engine.doctor.report import doctor
    from engine.text import printable
    from tui.cli.output import print_json

    rows = doctor(network=not args.offline)
    if args.json:
        for row in rows:
            print_json(asdict(row))
        return 0
    width = max(len(row.name) for row in rows)
    columns = report_width()
    section = ""
    for row in rows:
        if row.section != section:
            section = row.section
            print(section)
        print(hanging(f"  {TAGS[row.state]} {row.name:<{width}}  ", printable(row.value), columns))
        if row.fix:
            print(hanging(f"  {'':6} {'':<{width}}  fix: ", printable(row.fix), columns))
    fails = sum(row.state == "fail" for row in rows)
    warns = sum(row.state == "warn" for row in rows)
    if fails or warns:
        print(f"{fails} problem(s), {warns} warning(s): each has its fix above", file=sys.stderr)
    else:
        print("no problems found", file=sys.stderr)
    return 0
