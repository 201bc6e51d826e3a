"""`ptm-tui layers JOB`: how each block of a job's model learns (gradient and update norms)."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `layers` subcommand."""
    parser = subparsers.add_parser(
        "layers", help="is every layer of a job learning? gradient norms and update ratios",
        description="Show the job's newest per-block measurement (gradient norm, weight norm, "
        "update-to-weight ratio of one step), the update ratio of each block over time on a log "
        "scale with the usual healthy band (1e-4..1e-2), and any flags: gradients that vanish or "
        "explode, frozen blocks whose weights move.")
    parser.add_argument("job", help="job id (or a unique prefix)")
    parser.add_argument("--json", action="store_true",
                        help="print the newest measurement record and every flag as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table, the plot and the flags (or JSON)."""
    from engine.errors import WorkFailed
    from engine.jobs.learning import layer_history
    from engine.jobs.store import find_job
    from engine.text import printable
    from tui.cli.output import print_json
    from tui.learning_plot import band, draw_update_ratios, render
    from tui.plot_key import key_words

    folder = find_job(args.job)
    history = layer_history(folder)
    if history.skipped and (history.latest or args.json):
        print(f"ptm-tui: job {printable(folder.name)}: {printable(history.skipped)}", file=sys.stderr)
    if args.json:
        print_json({"job": folder.name, "latest": history.latest, "flags": history.flags})
        return 0
    if not history.latest:
        raise WorkFailed(f"job {folder.name} has no per-layer measurement yet",
                         history.skipped or "the trainer records one a few times an epoch "
                         "(diagnostics_every)",
                         "wait for the first steps, or check [train] diagnostics_every is not 0")
    out = sys.stdout
    latest = history.latest
    print(f"{printable(folder.name)}: epoch {latest['epoch']} step {latest['step']}", file=out)
    print(f"{'block':<24} {'grad norm':>11} {'weight norm':>12} {'update/weight':>14}  band", file=out)
    for name, row in latest["blocks"].items():
        if not row.get("trainable"):
            print(f"{printable(name):<24} {'frozen':>11}", file=out)
            continue
        ratio = row.get("update_ratio")
        shown = f"{ratio:.2e}" if ratio is not None else "-"
        print(f"{printable(name):<24} {row['grad_norm']:>11.3e} {row['weight_norm']:>12.3e} {shown:>14}  "
              f"{band(ratio)}", file=out)
    columns, lines = shutil.get_terminal_size((100, 30))
    if history.blocks:
        rows = max(10, min(20, lines - 10))
        print(render(draw_update_ratios, history.blocks, "braille", rows, width=min(columns, 120),
                     height=rows, color=out.isatty()), file=out)
        print(key_words(list(history.blocks)), file=out)
    for flag in history.flags:
        print(f"flag: {printable(flag)}", file=out)
    if not history.flags:
        print("no flags: no block's gradients vanish or explode, and frozen blocks stay put", file=out)
    return 0
