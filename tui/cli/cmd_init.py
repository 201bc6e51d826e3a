"""`ptm-tui init MODEL --method M --out FILE`: re-initialise a model (or part of it) and save it."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `init` subcommand."""
    parser = subparsers.add_parser(
        "init", help="re-initialise a model, a subtree or a layer type and save the weights",
        description="Open MODEL, initialise the chosen tensors with a torch.nn.init method (or a "
        "preset) and write the whole state dict to --out atomically (.pth or .safetensors).")
    parser.add_argument("model", metavar="MODEL",
                        help="model name, timm/<name>, pkg.mod:factory or file.py:Class")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--method", help="uniform, normal, constant, ones, zeros, eye, dirac, "
                     "xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, "
                     "trunc_normal, orthogonal, sparse")
    how.add_argument("--preset", help="a named preset: common (conv kaiming_normal fan_out/relu, "
                     "biases 0, norm weight 1 / bias 0, linear xavier_normal)")
    parser.add_argument("--target", default="", help='module path to initialise ("" = the whole '
                        "model, the default), e.g. fc or layer4.1")
    parser.add_argument("--type", dest="layer_type", default=None,
                        help="only layers of this type (class name, e.g. Conv2d or Linear; "
                        "comma-separate several)")
    parser.add_argument("--what", default="weight", choices=("weight", "bias", "both"),
                        help="which tensors of each layer (default weight)")
    parser.add_argument("--param", action="append", default=[], metavar="K=V",
                        help="a method parameter, e.g. --param std=0.02 --param mode=fan_out")
    parser.add_argument("--weights", default="default",
                        help="weights to start from: default, none, a weights name, a file, a URL")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random init (same seed, same weights; default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="where to save the weights (.pth or .safetensors)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def edit_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Return the recipe edit ("init" or "init_preset") that the arguments ask for."""
    from engine.edit.init_methods import parse_params, resolve_params
    from engine.errors import BadInput

    if args.preset:
        if args.param or args.layer_type or args.what != "weight":
            raise BadInput("--preset takes no --param, --type or --what",
                           "the preset decides the method for each layer type itself",
                           "drop those options, or use --method")
        return {"op": "init_preset", "target": args.target, "preset": args.preset}
    given = parse_params(args.param)
    params = resolve_params(args.method, given)  # refuse bad params early
    edit: dict[str, Any] = {"op": "init", "target": args.target, "method": args.method,
                            "params": {k: params[k] for k in given}, "what": args.what}
    if args.layer_type:
        edit["layer_type"] = args.layer_type
    return edit


def run(args: argparse.Namespace) -> int:
    """Open the model, apply the init edit, save the weights; return the exit code."""

    from engine.edit.init_methods import check_seed
    from engine.edit.save import WEIGHTS_SUFFIXES, save_weights
    from engine.edit.workbench import Workbench
    from engine.outputs import check_output_file
    from engine.use.devices import resolve_device
    from engine.use.inference import meaning_of
    from tui.cli.output import print_json, stderr, stdout

    out = check_output_file(args.out, suffixes=WEIGHTS_SUFFIXES)
    check_seed(args.seed)
    device = resolve_device(args.device)
    edit = edit_from_args(args)
    with stderr.status(f"opening {args.model}..."):
        bench = Workbench.open(args.model, weights=args.weights, device=device, seed=args.seed)
    summary = bench.apply(edit)
    saved = save_weights(bench.model, out, meaning_of(bench))
    if args.json:
        print_json({"model": args.model, "edit": edit, "summary": summary, "out": str(saved),
                    "source": bench.source})
    else:
        from rich.markup import escape

        stdout.print(escape(summary))
        stdout.print(f"saved weights to {escape(str(saved))}")
    return 0
