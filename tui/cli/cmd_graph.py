"""`ptm-tui graph MODEL --out FILE`: the autograd graph of a forward pass, via torchviz/Graphviz."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `graph` subcommand."""
    parser = subparsers.add_parser(
        "graph", help="draw the autograd graph of a model's forward pass (pdf, svg, png)",
        description="Run one forward pass of a random input and draw its autograd graph with "
        "torchviz. Rendering needs Graphviz's `dot`; without it the .dot source is still "
        "written beside FILE and the command exits 1 saying how to install Graphviz.")
    parser.add_argument("model", metavar="MODEL",
                        help="model name, timm/<name>, pkg.mod:factory or file.py:Class")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file, e.g. resnet18.pdf")
    parser.add_argument("--format", choices=("pdf", "svg", "png", "dot"),
                        help="output format (default: from the --out suffix, else pdf)")
    parser.add_argument("--weights", default="none",
                        help="none (default: the graph does not depend on them), default, "
                        "a weights name, a file path or a URL")
    parser.add_argument("--input-size", help="input shape, e.g. 1,3,224,224 "
                        "(default: the model's own)")
    parser.add_argument("--json", action="store_true",
                        help="print {dot, rendered, nodes} as JSON")
    parser.set_defaults(func=run)


def _input_size(text: str | None, default: tuple[int, ...] | None) -> tuple[int, ...]:
    """Return the --input-size as a tuple, or the model's own, or (1, 3, 224, 224)."""
    from engine.errors import BadInput

    if not text:
        return tuple(default) if default else (1, 3, 224, 224)
    try:
        size = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        size = ()
    if len(size) < 2 or min(size) < 1:
        raise BadInput(f"bad --input-size {text!r}", "it must be positive whole numbers",
                       "e.g. --input-size 1,3,224,224")
    return size


def run(args: argparse.Namespace) -> int:
    """Write the graph and return the exit code (1 when Graphviz is missing)."""
    from engine.inspect.graph import export_graph, format_for
    from engine.models.loader import open_model
    from tui.cli.output import print_json, progress_bar, stdout

    fmt = format_for(args.out, args.format)
    with progress_bar(f"opening {args.model}") as update:
        opened = open_model(args.model, args.weights, "cpu", progress=update)
    files = export_graph(opened.model, args.out, fmt, _input_size(args.input_size,
                                                                  opened.input_size))
    if args.json:
        print_json({"dot": str(files.dot_path),
                    "rendered": str(files.rendered) if files.rendered else None,
                    "nodes": files.nodes})
        return 0
    shown = files.rendered or files.dot_path
    stdout.print(f"wrote the graph of {args.model} ({files.nodes} nodes) to {shown}",
                 highlight=False)
    return 0
