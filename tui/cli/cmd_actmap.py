"""`ptm-tui actmap MODEL IMAGE --out DIR`: activation maps of conv stages over the image."""

from __future__ import annotations

import argparse
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `actmap` subcommand."""
    parser = subparsers.add_parser(
        "actmap", help="write activation maps of a model's conv stages, overlaid on an image",
        description="For each chosen layer (default: each ReLU of `features` as in the AlexNet "
        "example, layer1..4 for ResNets, else each stage) write the channel-mean activation, "
        "upsampled, coloured and blended over IMAGE, as DIR/<layer>.png, plus DIR/grid.png.")
    parser.add_argument("model", metavar="MODEL",
                        help="model name, timm/<name>, pkg.mod:factory or file.py:Class; or a "
                        "finetune job id, a checkpoint (.pt) or a recipe (.toml), preprocessed "
                        "as it was trained")
    parser.add_argument("image", metavar="IMAGE", help="an image file")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for the PNGs (created when missing)")
    parser.add_argument("--layers", help="comma-separated layer paths, e.g. layer1,layer4")
    parser.add_argument("--weights", default="default",
                        help="default, none, a weights name, a file path or a URL")
    parser.add_argument("--colormap", default="viridis", choices=("viridis", "jet", "gray"),
                        help="colour map of the activations (default viridis)")
    parser.add_argument("--alpha", type=float, default=0.5,
                        help="opacity of the map over the image, 0..1 (default 0.5)")
    parser.add_argument("--device", default="auto", help="auto (best available), cpu, cuda, mps")
    parser.add_argument("--json", action="store_true",
                        help="print {image, out, files: [...]} as JSON")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the maps and return the exit code."""
    from engine.jobs.trained import open_for_use
    from engine.outputs import check_output_dir
    from engine.use.actmap import save_actmaps
    from engine.use.devices import resolve_device
    from engine.use.features import parse_layers
    from engine.use.images import load_image
    from tui.cli.output import print_json, progress_bar, stdout

    load_image(args.image)  # a bad path or --out is reported before the model is opened
    check_output_dir(args.out)
    layers = parse_layers(args.layers)
    device = resolve_device(args.device)
    with progress_bar(f"opening {args.model}") as update:
        ready = open_for_use(args.model, args.weights, device, progress=update,
                             trust_code=args.trust_code)
    files = save_actmaps(ready.model, args.image, args.out, layers, ready.preprocess,
                         args.colormap, args.alpha)
    if args.json:
        print_json({"image": args.image, "out": args.out, "files": [str(f) for f in files]})
        return 0
    from rich.markup import escape

    stdout.print(f"wrote {len(files) - 1} activation map(s) and a grid to {escape(args.out)}:")
    for path in files:
        stdout.print(f"  {escape(str(path))}", highlight=False)
    return 0
