"""`ptm-tui summary MODEL [--input 1,3,224,224] [--json]`: output shapes and mult-adds per layer."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `summary` subcommand."""
    parser = subparsers.add_parser(
        "summary", help="output shape and mult-adds of every layer (torchinfo, on meta)",
        description="Run torchinfo on a meta copy of MODEL (no memory, no weights, no network) "
        "and show every layer's output shape, parameters and mult-adds, with the totals; the "
        "total mult-adds are torch's own FLOP counter's (FLOPs / 2). The architecture is the "
        "one the chosen weights build (e.g. vit_h_14's 518-pixel position embeddings).")
    parser.add_argument("model", metavar="MODEL",
                        help="catalog name (resnet50), timm/<name>, pkg.mod:factory or "
                        "path/to/file.py:Class")
    parser.add_argument("--input", default=None, metavar="SIZE",
                        help="input size, batch first, e.g. 1,3,224,224 (default: the default "
                        "weights' crop size, else 1,3,224,224)")
    parser.add_argument("--weights", default=None, metavar="W",
                        help="the weights whose architecture to summarize: a weights name "
                        "(built on meta, nothing downloaded), default, none (random init), a file "
                        "path or a URL (default: the default weights' architecture)")
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="show layers down to this depth (default: all)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object: model, class, weights, input, note, params, mult_adds, "
                        "output_shape, layers [{path, type, depth, output_shape, params, "
                        "mult_adds, calls}]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Summarize the model; print JSON or a table; return the exit code."""
    from engine.inspect.meta import DEFAULT_INPUT
    from engine.inspect.summary import parse_input_size, summarize
    from tui.cli.output import print_json

    size = parse_input_size(args.input) if args.input is not None else None
    model, weights, weights_size, note = _architecture(args.model, args.weights)
    size = size or weights_size or DEFAULT_INPUT
    rows = summarize(model, size)
    root = rows.get("")
    notes = [n for n in (note, root.note if root else "") if n]
    data = {
        "model": args.model, "class": type(model).__name__, "weights": weights,
        "input": list(size), "note": "; ".join(notes) or None,
        "params": root.params if root else 0, "mult_adds": root.mult_adds if root else 0,
        "output_shape": _plain(root.output_shape) if root else None,
        "layers": [{"path": path, "type": row.type, "depth": row.depth,
                    "output_shape": _plain(row.output_shape), "params": row.params,
                    "mult_adds": row.mult_adds, "calls": row.calls}
                   for path, row in rows.items() if path],
    }
    if args.json:
        print_json(data)
    else:
        _print_table(data, args.depth)
    return 0


def _architecture(name: str, weights: str | None) -> tuple[Any, str, tuple[int, ...] | None, str]:
    """Return (model, weights in words, input size, note): built on meta for a weights name.

    A quantized model's weights are summarized on the float layers they hold, since
    quantized kernels cannot run on meta.
    """
    from engine.models import catalog
    from engine.models.architecture import architecture
    from tui.cli.cmd_inspect import open_for_inspection

    info = catalog.model_info(name)
    spec = weights if weights is not None else ("default" if info.default_weights else "none")
    named = spec.lower() in ("none", "random", "default", "pretrained") or \
        info.weights_named(spec) is not None
    if not named:  # a file or a URL: open it for real (its architecture is what fits the file)
        opened = open_for_inspection(name, spec, real=True)
        return opened.model, spec, opened.input_size, ""
    catalog.resolve_weights(name, spec)  # "default" without any: say so
    built = architecture(name, spec)
    note = ""
    if built.weights is not None and info.task == "quantized":
        note = "counted on the float layers the quantized weights hold (quantized kernels " \
               "cannot run on meta)"
    return built.model, built.weights.short_name if built.weights else "none", built.input_size, note


def _plain(shape: Any) -> Any:
    """Return a shape as JSON-ready lists."""
    if isinstance(shape, (list, tuple)):
        return [_plain(s) for s in shape]
    return shape


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "-"
    if shape and all(isinstance(s, int) for s in shape):
        return "x".join(map(str, shape))
    return ", ".join(_shape_text(s) for s in shape)


def _print_table(data: dict[str, Any], depth: int | None) -> None:
    """Print the summary as a Rich table on stdout, with the totals below."""
    from rich import box
    from rich.table import Table

    from tui.cli.output import stdout
    from tui.format import human_count

    size = "x".join(map(str, data["input"]))
    weights = f", weights {data['weights']}" if data["weights"] != "none" else ""
    table = Table(title=f"{data['model']} ({data['class']}{weights}), input {size}",
                  box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    table.add_column("layer")
    table.add_column("type", style="cyan")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    table.add_column("mult-adds", justify="right")
    for row in data["layers"]:
        if depth is not None and row["depth"] > depth:
            continue
        indent = "  " * (row["depth"] - 1)
        calls = f" (x{row['calls']})" if row["calls"] > 1 else ""
        table.add_row(f"{indent}{row['path'].rpartition('.')[2]}{calls}", row["type"],
                      _shape_text(row["output_shape"]),
                      f"{row['params']:,}" if row["params"] else "-",
                      human_count(row["mult_adds"]) if row["mult_adds"] else "-")
    stdout.print(table)
    stdout.print(f"total params {data['params']:,}   total mult-adds "
                 f"{human_count(data['mult_adds'])} ({data['mult_adds']:,})   output "
                 f"{_shape_text(data['output_shape'])}")
    if data["note"]:
        stdout.print(f"note: {data['note']}", markup=False, highlight=False)
