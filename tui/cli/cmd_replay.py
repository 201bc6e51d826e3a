"""`ptm-tui replay RECIPE`: rebuild a model from its recipe, optionally save its weights."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `replay` subcommand."""
    parser = subparsers.add_parser(
        "replay",
        help="rebuild a model from a recipe (TOML) and optionally save its weights",
        description="Open the recipe's model, apply its edits in order (same seeds, same weights) "
        "and optionally save the result. Exit 2 names the edit that is wrong.",
    )
    parser.add_argument("recipe", help="the recipe file (.toml)")
    parser.add_argument("--out", metavar="FILE", help="save the rebuilt weights here (.pth or .safetensors)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument(
        "--json", action="store_true", help="print the rebuilt model as `inspect --json` does"
    )
    parser.set_defaults(func=run)


def _inspect_object(workbench: Any, saved: Any = None) -> dict[str, Any]:
    """Return the object `inspect --json` prints, for the rebuilt model."""
    from tui.cli.cmd_inspect import Opened, inspection

    opened = Opened(
        workbench.model, workbench.source, str(saved) if saved else None, workbench.input_size
    )
    return inspection(workbench.name, opened, with_stats=False)


def run(args: argparse.Namespace) -> int:
    """Replay the recipe and return the exit code."""
    from engine.edit import recipe as recipes
    from engine.edit.save import WEIGHTS_SUFFIXES
    from engine.outputs import check_output_file
    from engine.use.devices import resolve_device
    from tui.cli.output import print_json, progress_bar, stdout

    recipe = recipes.load(args.recipe)
    if args.out:  # a bad --out is refused before the model is built
        check_output_file(args.out, suffixes=WEIGHTS_SUFFIXES)
    device = resolve_device(args.device, allow_meta=not args.out)  # meta: structure only
    with progress_bar(f"opening {recipe.model['name']}") as update:
        workbench = recipes.build(recipe, device=device, progress=update)
    saved = None
    if args.out:
        from engine.edit.save import save_weights
        from engine.use.inference import meaning_of

        saved = save_weights(workbench.model, args.out, meaning_of(workbench))
    if args.json:
        print_json(_inspect_object(workbench, saved))
        return 0
    from rich.markup import escape

    total, trainable = workbench.counts()
    stdout.print(
        f"[bold]{escape(workbench.name)}[/] ({escape(workbench.source)}, seed {workbench.seed})"
    )
    for index, (edit, summary) in enumerate(workbench.history, start=1):
        stdout.print(
            f"  {index}. [cyan]{edit['op']}[/] {escape(summary)}", highlight=False, soft_wrap=True
        )
    stdout.print(f"{total:,} parameters, {trainable:,} trainable")
    if saved is not None:
        stdout.print(f"saved weights to {escape(str(saved))}", soft_wrap=True)
    return 0
