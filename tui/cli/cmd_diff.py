"""`ptm-tui diff A B [--json]`: what changed between two sets of weights, layer by layer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `diff` subcommand."""
    parser = subparsers.add_parser(
        "diff", help="compare two sets of weights layer by layer (what finetuning changed)",
        description="For each layer: the relative change ||B-A||/||A|| and the cosine similarity "
        "of its learned parameters, its buffers (BatchNorm's running statistics) apart, then the "
        "tensors only one of A and B has. A and B are weights files or checkpoints (.pth, .pt, "
        ".safetensors), job folders or ids (their newest checkpoint), MODEL (its default "
        "pretrained weights) or MODEL@WEIGHTS. `diff JOB` alone compares the job's start (its "
        "recipe rebuilt, a seeded random init included) with its newest checkpoint.")
    parser.add_argument("a", metavar="A", help="the weights before (e.g. resnet18), or a job alone")
    parser.add_argument("b", metavar="B", nargs="?", default=None,
                        help="the weights after (e.g. a job id or checkpoint)")
    parser.add_argument("--json", action="store_true",
                        help="print {a, b, layers: [{layer, tensors, values, relative_change, change, "
                        "cosine}], total, buffers, buffers_total, only_in_a, only_in_b, shape_differs, "
                        "not_compared, tensors: [{tensor, kind, ...}]}; relative_change is \"from zero\" "
                        "where A was all zeros, cosine null where either is (no angle)")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def resolve_spec(spec: str) -> str:
    """Return `spec`, or the folder of the job it names when it is a job id and nothing else."""
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
    """Return a number for the table ("-" for none)."""
    return "-" if value is None else f"{value:.{digits}g}"


def _job_alone(spec: str) -> Path:
    """Return the job folder `diff JOB` names, or raise BadInput."""
    from engine.errors import BadInput
    from engine.jobs.job_weights import is_job_folder

    folder = Path(resolve_spec(spec)).expanduser()
    if not is_job_folder(folder):
        raise BadInput(f"diff {spec} needs a second set of weights",
                       "only a job alone has two: its start and its newest checkpoint",
                       f"give B too (ptm-tui diff {spec} B), or a job id")
    return folder


def run(args: argparse.Namespace) -> int:
    """Compare A and B and print the result; return the exit code."""
    from engine.jobs.job_weights import job_start, job_weights, weights_of
    from engine.use.diff import diff_weights
    from tui.cli.output import print_json, progress_bar

    if args.b is None:
        job = _job_alone(args.a)
        b = job_weights(job)  # first: a job with no checkpoint yet says so before any build
        with progress_bar(f"rebuilding the start of {job.name}") as update:
            a = job_start(job, progress=update, trust_code=args.trust_code)
    else:
        loaded = []
        for spec in (args.a, args.b):
            with progress_bar(f"reading {spec}") as update:
                loaded.append(weights_of(resolve_spec(spec), progress=update))
        a, b = loaded
    result = diff_weights(a.state, b.state, a.label, b.label, buffers=a.buffers | b.buffers)
    if args.json:
        print_json(result.to_dict())
        return 0
    _print(result)
    return 0


def _cells(params: Any, buffers: Any) -> list[str]:
    """Return a row's cells: the parameters' values, change and cosine, then the buffers' change
    (False: no buffer column; their cosine is in --json)."""
    cells = [f"{params.values:,}", params.relative_text(), _number(params.cosine, 6)] \
        if params is not None else ["-", "-", "-"]
    if buffers is not False:
        cells.append(buffers.relative_text() if buffers is not None else "-")
    return cells


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
    if result.buffers:
        table.add_column("buffers\n||B-A||/||A||", justify="right", no_wrap=True)
    params = {layer.layer: layer for layer in result.layers}
    buffers = {layer.layer: layer for layer in result.buffers}
    for name in dict.fromkeys([*params, *buffers]):
        table.add_row(escape(name), *_cells(params.get(name), buffers.get(name) if buffers else False))
    if result.total is not None or result.buffers_total is not None:
        table.add_section()
        table.add_row("[bold]all parameters[/]",
                      *_cells(result.total, result.buffers_total if buffers else False))
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
