"""`ptm-tui export MODEL|RECIPE|CKPT|JOB --format exported|onnx|torchscript|safetensors --out PATH`."""

from __future__ import annotations

import argparse
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `export` subcommand."""
    parser = subparsers.add_parser(
        "export", help="write a model as a torch.export archive, ONNX, TorchScript or safetensors, "
        "checked against torch",
        description="Write the model with its preprocessing and class names as metadata, then run "
        "the written file on a random batch and compare it with torch (max abs difference "
        "printed; exit 1 past --tolerance, and nothing is left behind). `exported` (.pt2, "
        "torch.export, loaded with torch.export.load) and ONNX have a dynamic batch size; ONNX "
        "needs the [export] extra: pip install 'ptm-tui[export]'.")
    parser.add_argument("source", metavar="MODEL|RECIPE|CKPT|JOB",
                        help="a model name (with --weights), a recipe .toml, a finetune checkpoint "
                        "(.pt; its job's spec.toml gives the model), or a job id or folder (its "
                        "newest checkpoint)")
    parser.add_argument("--format", choices=("exported", "onnx", "torchscript", "safetensors"),
                        default=None,
                        help="default: from --out's suffix (.pt2, .onnx, .pt/.ts, .safetensors)")
    parser.add_argument("--out", required=True, metavar="PATH", help="the file to write")
    parser.add_argument("--weights", default="default",
                        help="with a model name: default, none, a weights name, a file path or a URL")
    parser.add_argument("--recipe", metavar="TOML", default=None,
                        help="with a checkpoint: the recipe that builds its model (default: the "
                        "job's spec.toml)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest max abs difference vs torch that passes (default 1e-4)")
    parser.add_argument("--json", action="store_true",
                        help="print {out, format, bytes, max_abs_diff, tolerance, batch, input_shape, "
                        "metadata} as JSON")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export the model and return the exit code."""
    import math

    from engine.errors import BadInput
    from engine.outputs import check_output_file, writing
    from engine.train.export_source import open_source
    from engine.use.export import FORMATS, TOLERANCE, check_tools, export_format, export_model
    from tui.cli.output import print_json, progress_bar, stdout

    fmt = export_format(args.out, args.format)
    tolerance = TOLERANCE if args.tolerance is None else args.tolerance
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise BadInput(f"--tolerance must be a finite number of at least 0, got {tolerance}",
                       "it is the largest difference from torch that passes", "e.g. --tolerance 1e-4")
    check_tools(fmt)  # before the model is opened: say what to install first
    out = check_output_file(args.out, suffixes=FORMATS[fmt])
    with progress_bar(f"opening {args.source}") as update:
        source = open_source(_job_folder(args.source), weights=args.weights, recipe_path=args.recipe,
                             progress=update, trust_code=args.trust_code)
    with stdout.status(f"exporting {source.name} as {fmt} and checking it...") if not args.json \
            else _quiet(), writing(out):
        report = export_model(source.model, fmt, out, source.input_shape, source.metadata(),
                              tolerance=tolerance)
    if args.json:
        said = {"weights_note": source.weights_note} if source.weights_note else {}
        print_json({**report.to_dict(), **said})
        return 0
    from rich.markup import escape

    stdout.print(f"wrote {escape(str(report.path.resolve()))} ({fmt}, {report.bytes / 1e6:.1f} MB)",
                 soft_wrap=True, highlight=False)
    stdout.print(f"max abs difference vs torch: {report.max_abs_diff:.3g} on a batch of "
                 f"{report.batch} (tolerance {report.tolerance:g})", highlight=False)
    names = source.class_names
    stdout.print(f"input {['N', *report.input_shape[1:]]}; metadata: preprocessing, "
                 f"{f'{len(names)} class names' if names else 'no class names (none known for this head)'}",
                 highlight=False, soft_wrap=True)
    if source.weights_note:
        stdout.print(escape(source.weights_note), highlight=False, soft_wrap=True)
    return 0


def _job_folder(source: str) -> str:
    """Return the folder of the job `source` names when it is a job id (not a path or a model)."""
    from pathlib import Path

    from engine.errors import BadInput
    from engine.models import catalog

    if Path(source).expanduser().exists():
        return source
    try:
        catalog.model_info(source)
        return source
    except BadInput:
        pass
    from engine.jobs.store import find_job

    try:
        return str(find_job(source))
    except BadInput:
        return source  # opening it as a model says what is wrong


def _quiet() -> Any:
    """Return a context manager that does nothing (no spinner under --json)."""
    import contextlib

    return contextlib.nullcontext()
