"""`ptm-tui diff A B [--json]`: what changed between two sets of weights, layer by layer."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `diff` subcommand."""
    parser = subparsers.add_parser(
        "diff", help="compare two sets of weights layer by layer (what finetuning changed)",
        description="For each layer: the relative change ||B-A||/||A|| and the cosine similarity "
        "of its weights, then the tensors only one of A and B has. A and B are weights files or "
        "checkpoints (.pth, .pt, .safetensors), job folders or ids (their newest checkpoint), "
        "MODEL (its default pretrained weights) or MODEL@WEIGHTS.")
    parser.add_argument("a", metavar="A", help="the weights before (e.g. resnet18)")
    parser.add_argument("b", metavar="B", help="the weights after (e.g. a job id or checkpoint)")
    parser.add_argument("--json", action="store_true",
                        help="print {a, b, layers: [{layer, tensors, values, relative_change, cosine}], "
                        "total, only_in_a, only_in_b, shape_differs, not_compared}")
    parser.set_defaults(func=run)


def resolve_spec(spec: str) -> str:
    """Return `spec`, or the folder of the job it names when it is a job id and nothing else."""
    from pathlib import Path

    from engine.errors import BadInput
    from engine.models import catalog

    if Path(spec).expanduser().exists() or "@" in spec:
        return spec
    try:
        catalog.model_info(spec)
        return spec
    except BadInput:
        pass
    from engine.jobs.store import find_job

    try:
        return str(find_job(spec))
    except BadInput:
        raise BadInput(f"{spec!r} names no weights",
                       "it is not a file, a job, or a model in the catalog",
                       "give a weights file, a checkpoint, a job id or a model name") from None


def _number(value: float | None, digits: int = 4) -> str:
    """Return a number for the table ("-" for none, "inf" for infinity)."""
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def run(args: argparse.Namespace) -> int:
    """Compare A and B and print the result; return the exit code."""
    from engine.use.diff import diff_weights, load_weights
    from tui.cli.output import print_json, progress_bar

    loaded = []
    for spec in (args.a, args.b):
        with progress_bar(f"reading {spec}") as update:
            loaded.append(load_weights(resolve_spec(spec), progress=update))
    (a, a_label), (b, b_label) = loaded
    result = diff_weights(a, b, a_label, b_label)
    if args.json:
        print_json(result.to_dict())
        return 0
    _print(result)
    return 0


def _print(result: Any) -> None:
    """Print the comparison as a table and lists of the tensors that were not compared."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from tui.cli.output import stdout

    table = Table(title=f"A: {escape(result.a)}\nB: {escape(result.b)}", box=box.SIMPLE_HEAD,
                  header_style="bold", pad_edge=False, title_justify="left")
    table.add_column("layer", style="cyan", overflow="fold")
    table.add_column("values", justify="right", no_wrap=True)
    table.add_column("||B-A||/||A||", justify="right", no_wrap=True)
    table.add_column("cosine", justify="right", no_wrap=True)
    for layer in result.layers:
        table.add_row(escape(layer.layer), f"{layer.values:,}", _number(layer.relative_change),
                      _number(layer.cosine, 6))
    if result.total is not None:
        table.add_section()
        table.add_row("[bold]all compared[/]", f"{result.total.values:,}",
                      _number(result.total.relative_change), _number(result.total.cosine, 6))
    stdout.print(table)
    for title, names in (("only in A", result.only_in_a), ("only in B", result.only_in_b)):
        if names:
            stdout.print(f"{title} ({len(names)}): {escape(', '.join(names))}", soft_wrap=True,
                         highlight=False)
    if result.not_compared:
        shown = ", ".join(result.not_compared[:2]) + (", ..." if len(result.not_compared) > 2 else "")
        stdout.print(f"not compared (not floating point): {len(result.not_compared)} tensors "
                     f"({escape(shown)})", soft_wrap=True, highlight=False)
    for name, shape_a, shape_b in result.shape_differs:
        stdout.print(f"shape differs: {escape(name)} {shape_a} -> {shape_b}", highlight=False,
                     soft_wrap=True)
