"""`ptm-tui models [--filter GLOB] [--task T] [--source S] [--json]`: the model catalog, offline;
`--plot` draws it and `--compare A B` puts models side by side (models_figures.py)."""

from __future__ import annotations

import argparse
from typing import Any

TASKS = ("classification", "quantized", "detection", "segmentation", "video", "optical_flow")
SOURCES = ("torchvision", "timm", "all")


def register(subparsers: Any) -> None:
    """Add the `models` subcommand."""
    parser = subparsers.add_parser(
        "models", help="list every model with its weights (offline)",
        description="List every torchvision model (classification, quantized, detection, "
        "segmentation, video, optical flow) with its weights: acc@1, params, GFLOPs, file size "
        "and whether the file is in torch.hub's cache. Nothing is built or downloaded. "
        "timm/<name>, pkg.mod:factory and path/to/file.py:Class open too.")
    parser.add_argument("name", nargs="?", metavar="NAME", default=None,
                        help="the same as --filter NAME (e.g. `ptm-tui models resnet`)")
    parser.add_argument("--filter", metavar="GLOB", default=None,
                        help="names matching a glob (resnet*, *vit*); a plain word matches "
                        "names containing it")
    parser.add_argument("--task", choices=TASKS, default=None, help="only models of this task")
    parser.add_argument("--cached", action="store_true",
                        help="only models with a weights file in the cache")
    parser.add_argument("--source", choices=SOURCES, default=None,
                        help="whose models: torchvision's (the default), timm's (timm/<name> and "
                        "every pretrained timm/<arch>.<tag>; needs timm) or all")
    parser.add_argument("--timm", action="store_true", help="the same as --source all")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per model per line: name, task, default_weights, "
                        "weights [{name, url, params, cached, acc1, acc5, gflops, ...}]")
    parser.add_argument("--categories", action="store_true",
                        help="with --json, include each weights' category names")
    from tui.cli.models_figures import add_arguments

    add_arguments(parser)
    parser.set_defaults(func=run)


def _glob(pattern: str | None) -> str | None:
    """Return the glob for --filter: a plain word matches names containing it."""
    if not pattern:
        return None
    return pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"


def run(args: argparse.Namespace) -> int:
    """Print the catalog as JSON lines or a table; return the exit code."""
    from engine.errors import BadInput
    from engine.models import catalog
    from tui.cli.output import print_json, stderr

    if args.timm and args.source not in (None, "all"):
        raise BadInput(f"--timm and --source {args.source} disagree", "--timm means --source all",
                       "give one of them")
    if args.name and args.filter and args.name != args.filter:
        raise BadInput(f"NAME {args.name!r} and --filter {args.filter!r} disagree",
                       "NAME is the same as --filter", "give one of them")
    args.filter = args.filter or args.name
    if args.compare is not None:
        return _compare(args)
    source = "all" if args.timm else args.source or "torchvision"
    if source != "torchvision" and not catalog.timm_available():
        raise BadInput(f"cannot list {source} models", "timm is not installed",
                       "pip install timm  (or pip install 'ptm-tui[timm]')")
    infos = catalog.list_models(_glob(args.filter), args.task, source=source)
    if args.cached:
        infos = [i for i in infos if any(w.cached for w in i.weights)]
    if not infos and not args.json:  # a plot or a table of nothing: say so instead
        stderr.print(f"no model matches {args.filter or ''} {args.task or ''}".rstrip())
        return 0
    if args.plot:
        from tui.cli.models_figures import run_plot

        return run_plot(args, infos)
    if args.json:
        for info in infos:
            print_json(info.to_dict(categories=args.categories))
        return 0
    _print_table(infos)
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Run --compare, which lists nothing: no filter, task, source or plot goes with it."""
    from engine.errors import BadInput
    from tui.cli.models_figures import run_compare

    given = [flag for flag, on in (("--plot", args.plot), ("--filter/NAME", args.filter),
                                   ("--task", args.task), ("--cached", args.cached)) if on]
    if given:
        raise BadInput(f"--compare does not go with {', '.join(given)}",
                       "--compare names its models itself", f"drop {', '.join(given)}")
    return run_compare(args)


def _number(value: float | None, digits: int = 1) -> str:
    """Return a number for a table cell, or a dash."""
    return "-" if value is None else f"{value:.{digits}f}"


_SHORT_TASKS = {"classification": "classify", "segmentation": "segment", "optical_flow": "flow"}


def _print_table(infos: list[Any]) -> None:
    """Print the models as a Rich table on stdout, one row per model (its default weights).

    A pipe gets every column at full width; a narrow terminal drops columns from the right,
    so a model's name is never wrapped or cut and each model stays on one line.
    """
    from rich.console import Console

    from tui.cli.output import stdout

    columns = _COLUMNS
    table = _table(infos, columns)
    if not stdout.is_terminal:  # stdout.print would clamp to $COLUMNS or 80
        Console(width=_measure(table)).print(table)
        return
    while len(columns) > 1 and _measure(table) > stdout.width:
        columns = columns[:-1]
        table = _table(infos, columns)
    stdout.print(table)


def _measure(table: Any) -> int:
    """Return the characters the widest line of `table` needs."""
    from rich.measure import Measurement

    from tui.cli.output import stdout

    return Measurement.get(stdout, stdout.options.update(width=10_000), table).maximum


_COLUMNS = (("task", 10), ("params", 7), ("acc@1", 6), ("GFLOPs", 7), ("MB", 6), ("cached", 6))
"""The columns after the name, in the order a narrow terminal keeps them."""


def _table(infos: list[Any], columns: tuple[tuple[str, int], ...]) -> Any:
    """Return the Rich table of the models with the name column and `columns`."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"{len(infos)} model{'s' if len(infos) != 1 else ''} "
                  "(numbers of the default weights)",
                  box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    table.add_column("model", style="cyan", no_wrap=True)
    for header, size in columns:
        table.add_column(header, justify="left" if header == "task" else "right",
                         min_width=size, no_wrap=True)
    for info in infos:
        default = info.weights_named(info.default_weights)
        cached = sum(w.cached for w in info.weights)
        cells = (
            _SHORT_TASKS.get(info.task, info.task),
            f"{default.params / 1e6:.1f}M" if default and default.params else "-",
            _number(default.acc1 if default else None, 2),
            _number(default.gflops if default else None, 2),
            _number(default.file_size_mb if default else None),
            f"[green]{cached}/{len(info.weights)}[/]" if cached else f"-/{len(info.weights)}",
        )
        table.add_row(info.name, *cells[: len(columns)])
    return table
