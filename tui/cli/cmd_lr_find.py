"""`ptm-tui lr-find RECIPE`: the learning-rate range test on the recipe's model and data."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from tui.cli.cmd_finetune import TRAIN_FLAGS, overrides_from

# The [train] flags that matter to the range test (the rest would be ignored).
_FLAGS = ("data", "val_split", "image_size", "batch_size", "optimizer", "lr", "head_lr", "backbone_lr",
          "momentum", "weight_decay", "seed", "device", "workers", "augment")


def register(subparsers: Any) -> None:
    """Add the `lr-find` subcommand."""
    parser = subparsers.add_parser(
        "lr-find", help="suggest a learning rate: the range test on a recipe's model and data",
        description="Train a throwaway copy of the recipe's model (its edits, freezing and "
        "parameter groups) for --steps batches with an lr growing exponentially from --start "
        "to --end, stop when the smoothed loss diverges, and suggest the lr where it falls "
        "fastest (the min/10 rule is shown beside it). Nothing is saved.")
    parser.add_argument("recipe", help="the recipe file (.toml) with a [train] table")
    parser.add_argument("--start", type=float, default=1e-7, help="first lr (default 1e-7)")
    parser.add_argument("--end", type=float, default=10.0, help="last lr (default 10)")
    parser.add_argument("--steps", type=int, default=100, help="batches, one lr each (default 100)")
    for flag, key, kind, text in TRAIN_FLAGS:
        if key in _FLAGS:
            parser.add_argument(flag, dest=f"train_{key}", type=kind, default=None, help=text)
    parser.add_argument("--json", action="store_true",
                        help='print {"lrs": [...], "losses": [...], "suggestion": x, ...} on stdout')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the range test and print the curve and the suggestion."""
    from engine.edit import recipe as recipes
    from engine.train.lr_find import check_range, find_lr_for_recipe
    from tui.cli.output import print_json, stderr
    from tui.lr_plot import render_lr_plot

    check_range(args.start, args.end, args.steps)
    recipe = recipes.load(args.recipe)
    overrides = overrides_from(args)
    if args.json:
        result = find_lr_for_recipe(recipe, start=args.start, end=args.end, steps=args.steps,
                                    overrides=overrides)
        print_json(result.to_dict())
        return 0
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = [TextColumn("lr-find"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task("lr-find", total=args.steps, info="building the model...")

        def report(step: int, steps: int, lr: float, loss: float) -> None:
            progress.update(task, completed=step, info=f"lr {lr:.2e}  loss {loss:.4f}")

        result = find_lr_for_recipe(recipe, start=args.start, end=args.end, steps=args.steps,
                                    overrides=overrides, progress=report)
    out = sys.stdout
    columns_, lines = shutil.get_terminal_size((100, 30))
    print(render_lr_plot(result.lrs, result.losses, result.suggestion, min(columns_, 120),
                         max(12, min(22, lines - 6)), out.isatty()), file=out)
    print(f"{len(result.lrs)} steps in {result.seconds:.1f}s; {result.stopped} at lr "
          f"{result.lrs[-1]:.2e}", file=out)
    if result.suggestion is not None:
        print(f"suggested lr: {result.suggestion:.2e} (steepest descent)   "
              f"min/10 rule: {result.min_over_10:.2e}", file=out)
    else:
        print(f"no suggestion: the loss never fell; min/10 rule: {result.min_over_10:.2e}. "
              "Try a wider range (--start, --end) or check the data.", file=out)
    ratios = {k: v for k, v in result.ratios.items() if abs(v - 1) > 1e-12}
    if ratios:
        print("group lrs kept as multiples of lr: "
              + ", ".join(f"{name} x{ratio:g}" for name, ratio in ratios.items()), file=out)
    return 0
