"""`ptm-tui inspect MODEL... [--weights W | --arch W] [--stats] [--json]`: layers, head, input layer."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `inspect` subcommand."""
    parser = subparsers.add_parser(
        "inspect", help="show a model's layers, parameter counts, head and input layer",
        description="Show the layer tree of each MODEL: type, parameters and trainable parameters "
        "of every module, the classifier head and the input layer (a conv, or a Linear patch "
        "embedding). Without --weights the model is built on the meta device (structure only): "
        "no file is read, nothing is downloaded.")
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="catalog name (resnet50), timm/<name>, pkg.mod:factory or "
                        "path/to/file.py:Class")
    parser.add_argument("--weights", default=None, metavar="W",
                        help="default, none (random init), a weights name, a file path or a URL; "
                        "omit to inspect the structure only")
    parser.add_argument("--arch", default=None, metavar="W",
                        help="show the architecture that weights W (a weights name or default) "
                        "build, on meta, without loading them: no file, no network")
    parser.add_argument("--stats", action="store_true",
                        help="add weight statistics per layer (needs real tensors: without "
                        "--weights the model is built on cpu with random init)")
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="show layers down to this depth in the tree (default: all)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per model per line: model, class, params, trainable, "
                        "head, input_conv, input_layer (a conv or a Linear patch embedding), "
                        "weights, weights_file, layers [{path, type, params, "
                        "own_params, trainable[, stats]}]")
    parser.set_defaults(func=run)


@dataclass
class Opened:
    """A model opened for inspection and where its weights came from, in words."""

    model: Any
    weights: str
    weights_file: str | None
    input_size: tuple[int, ...] | None


def open_for_inspection(name: str, weights: str | None, real: bool) -> Opened:
    """Return the model on meta when `weights` is None and `real` is False, else opened for real."""
    from engine.models import catalog, loader

    if weights is None and not real:
        info = catalog.model_info(name)
        model = catalog.build(name, "meta")
        default = catalog.resolve_weights(name, "default") if info.default_weights else None
        return Opened(model, "none", None, loader.input_size_for(info, default, model))
    if weights is None:
        weights = "none"
    from tui.cli.output import progress_bar

    with progress_bar(f"weights of {name}") as update:
        opened = loader.open_model(name, weights=weights, device="cpu", progress=update)
    path = str(opened.weights_path) if opened.weights_path else None
    return Opened(opened.model, opened.source, path, opened.input_size)


def architecture_of(name: str, weights: str) -> Opened:
    """Return model `name` as weights `weights` build it, on meta, with nothing loaded."""
    from engine.models import catalog
    from engine.models.architecture import architecture

    catalog.resolve_weights(name, weights)  # an unknown name or a missing default: say so
    built = architecture(name, weights)
    label = f"none (architecture of {built.weights.short_name})" if built.weights else "none"
    return Opened(built.model, label, None, built.input_size)


def inspection(name: str, opened: Opened, with_stats: bool) -> dict[str, Any]:
    """Return the JSON-ready inspection of one model."""
    from engine.inspect.heads import find_head, find_input_conv, find_input_layer
    from engine.inspect.stats import subtree_stats
    from engine.inspect.tree import layer_tree

    model = opened.model
    tree = layer_tree(model)
    stats = subtree_stats(model) if with_stats else {}
    root = tree[""]
    layers = []
    for path, info in tree.items():
        if path == "":
            continue
        row: dict[str, Any] = {"path": path, "type": info.type, "params": info.params,
                               "own_params": info.own_params, "trainable": info.trainable}
        if with_stats:
            layer = stats.get(path)
            row["stats"] = _stats_dict(layer) if layer is not None else None
        layers.append(row)
    result: dict[str, Any] = {
        "model": name, "class": type(model).__name__, "params": root.params,
        "trainable": root.trainable, "head": find_head(model, opened.input_size),
        "input_conv": find_input_conv(model), "input_layer": find_input_layer(model),
        "weights": opened.weights, "weights_file": opened.weights_file,
        "input_size": list(opened.input_size) if opened.input_size else None,
        "dtype": root.dtype, "device": root.device, "modules": len(tree),
    }
    if with_stats and "" in stats:
        result["stats"] = _stats_dict(stats[""])
    result["layers"] = layers
    return result


def _stats_dict(stats: Any) -> dict[str, Any]:
    """Return the --json stats object of one layer (NaN as null: JSON has no NaN)."""
    import math

    keys = ("mean", "std", "min", "max", "zeros", "norm", "nan", "inf", "count")
    out = {}
    for key in keys:
        value = getattr(stats, key)
        out[key] = None if isinstance(value, float) and not math.isfinite(value) else value
    return out


def run(args: argparse.Namespace) -> int:
    """Inspect each model; print JSON lines or a Rich tree; return the exit code."""
    from engine.errors import BadInput
    from tui.cli.output import print_json, stderr

    if args.arch is not None and (args.weights is not None or args.stats):
        raise BadInput("--arch cannot be combined with --weights or --stats",
                       "--arch shows an architecture without loading any weights",
                       "drop --arch to load the weights, or drop --weights/--stats")
    if args.stats and args.weights is None:
        stderr.print("[dim]--stats without --weights: statistics of random init weights "
                     "(built on cpu); pass --weights default for the pretrained ones[/dim]")
    for name in args.models:
        opened = (architecture_of(name, args.arch) if args.arch is not None
                  else open_for_inspection(name, args.weights, real=args.stats))
        data = inspection(name, opened, args.stats)
        if args.json:
            print_json(data)
        else:
            _print_tree(data, args.depth)
    return 0


def _print_tree(data: dict[str, Any], depth: int | None) -> None:
    """Print one model's inspection as a Rich tree on stdout."""
    from rich.text import Text
    from rich.tree import Tree

    from tui.cli.output import stdout
    from tui.format import human_count, short_float

    def label(path: str, row: dict[str, Any]) -> Text:
        text = Text()
        text.append(path.rpartition(".")[2] or data["model"], "bold")
        text.append(f" {row['type']}", "cyan")
        if row["params"]:
            frozen = row["trainable"] == 0
            text.append(f"  {human_count(row['params'])}", "green" if not frozen else "dim")
            if 0 < row["trainable"] < row["params"]:
                text.append(f" ({human_count(row['trainable'])} trainable)", "yellow")
            elif frozen:
                text.append(" frozen", "blue")
        if path and path == data["head"]:
            text.append("  [head]", "magenta")
        if path and path == data["input_layer"]:
            text.append("  [input layer]", "magenta")
        stats = row.get("stats")
        if stats and row.get("own_params"):
            text.append("  mean {} std {}".format(short_float(stats["mean"] or 0.0),
                                                 short_float(stats["std"] or 0.0)), "dim")
            if stats["nan"] or stats["inf"]:
                text.append(f"  {stats['nan']} NaN {stats['inf']} Inf", "bold red")
        return text

    header = Text()
    header.append(f"{data['model']} ", "bold")
    header.append(f"({data['class']})  ", "cyan")
    header.append(f"{human_count(data['params'])} params, "
                  f"{human_count(data['trainable'])} trainable  ")
    header.append(f"head {data['head'] or 'none found'}  ")
    header.append(f"input layer {data['input_layer'] or 'none found'}  ")
    header.append(f"weights {data['weights']}", "dim")
    if data["weights_file"]:
        header.append(f" ({data['weights_file']})", "dim")
    root = Tree(header)
    nodes: dict[str, Tree] = {"": root}
    for row in data["layers"]:
        path = row["path"]
        level = path.count(".") + 1
        if depth is not None and level > depth:
            continue
        parent = path.rpartition(".")[0]
        nodes[path] = nodes.get(parent, root).add(label(path, row))
    stdout.print(root)
