"""`ptm-tui compare JOB JOB...`: several runs' validation curves, and what tells them apart."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `compare` subcommand."""
    parser = subparsers.add_parser(
        "compare", help="overlay several jobs' validation curves, labelled by what differs",
        description="Plot the validation accuracy and loss per epoch of two or more jobs on one "
        "chart each; every job is labelled with the recipe settings in which the jobs differ "
        "(lr, frozen blocks, image size...).")
    parser.add_argument("jobs", nargs="+", metavar="JOB", help="job ids (or unique prefixes)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON line per job: epochs, val_acc, val_loss, settings, label")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the overlaid curves (or JSON lines)."""
    from engine.jobs.compare import compare_runs
    from engine.text import printable
    from tui.cli.output import print_json
    from tui.learning_plot import draw_runs, render
    from tui.plot_key import key_words

    curves = compare_runs(args.jobs)
    if args.json:
        for curve in curves:
            print_json(curve.to_dict())
        return 0
    out = sys.stdout
    columns, lines = shutil.get_terminal_size((100, 30))
    height = max(10, min(18, (lines - 8) // 2))
    for metric in ("val_acc", "val_loss"):
        print(render(draw_runs, curves, metric, "braille", height, width=min(columns, 120), height=height,
                     color=out.isatty()), file=out)
    print(key_words([curve.label for curve in curves]), file=out)
    for curve in curves:
        last = (
            f"{curve.score} {curve.val_acc[-1]:.2f}% after {curve.epochs[-1]} epochs"
            if curve.epochs
            else "no epoch yet"
        )
        print(f"{printable(curve.label)}  ({last})", file=out)
        if curve.skipped:
            print(f"ptm-tui: job {printable(curve.job)}: {printable(curve.skipped)}", file=sys.stderr)
    return 0
