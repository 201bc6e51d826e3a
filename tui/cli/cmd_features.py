"""`ptm-tui features MODEL --layers a,b --images DIR --out FILE`: save chosen layers' outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `features` subcommand."""
    parser = subparsers.add_parser(
        "features",
        help="save the outputs of chosen layers for a folder of images",
        description="Run images through MODEL and save {layer: tensor [N, ...]} to FILE "
        "(.pt, loadable with torch.load(weights_only=True)). An unreadable image is skipped "
        "and named; its row is left out.",
    )
    parser.add_argument("model", metavar="MODEL",
                        help="model name, timm/<name>, pkg.mod:factory or file.py:Class; or a "
                        "finetune job id, a checkpoint (.pt) or a recipe (.toml)")
    parser.add_argument(
        "--layers",
        required=True,
        help="comma-separated layer paths or graph nodes, e.g. layer3,layer4,fc",
    )
    parser.add_argument(
        "--weights", default="default", help="default, none, a weights name, a file path or a URL"
    )
    parser.add_argument(
        "--images", required=True, nargs="+", metavar="IMAGE_OR_DIR", help="image files or folders of images"
    )
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file (.pt or .pth)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--json", action="store_true",
                        help="print {out, images, method, layers: {layer: shape}, "
                        "skipped: [{path, why}]} as JSON")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Extract the features and return the exit code."""
    import torch

    from engine.atomic import atomic_save
    from engine.edit.workbench import Workbench
    from engine.errors import BadInput
    from engine.jobs.trained import is_trained, open_trained
    from engine.outputs import check_output_file, writing
    from engine.use.devices import resolve_device
    from engine.use.features import FeatureExtractor, parse_layers
    from engine.use.images import image_files, load_image
    from engine.use.preprocess import preprocess_for
    from tui.cli.output import print_json, progress_bar, stderr, stdout

    layers = parse_layers(args.layers) or []
    files = image_files(args.images)
    if args.batch_size < 1:
        raise BadInput(
            "--batch-size must be at least 1", f"got {args.batch_size}", "e.g. --batch-size 16"
        )
    out = check_output_file(args.out, suffixes=(".pt", ".pth"))
    device = resolve_device(args.device)
    with progress_bar(f"opening {args.model}") as update:
        if is_trained(args.model):  # a job, checkpoint or recipe: preprocessed as trained
            opened = open_trained(args.model, device, trust_code=args.trust_code)
            model, preprocess = opened.model, opened.preprocess
        else:
            workbench = Workbench.open(args.model, weights=args.weights, device=device,
                                       progress=update)
            model = workbench.model
            preprocess = preprocess_for(args.model, args.weights, workbench.meta, model)

    def tensor(path: Path) -> torch.Tensor:
        image = load_image(path)[1]
        if preprocess.kind == "classification":
            return preprocess(image)
        return preprocess.resized(image, preprocess.input_size)  # one size, so a batch stacks

    extractor = FeatureExtractor(model, layers)
    parts: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    skipped: list[tuple[Path, str]] = []  # unreadable images: one bad file does not end the run
    with progress_bar("extracting features", total=len(files)) as update:
        for start in range(0, len(files), args.batch_size):
            chunk = files[start : start + args.batch_size]
            tensors = []
            for path in chunk:
                try:
                    tensors.append(tensor(path))
                except BadInput as error:
                    skipped.append((path, error.why or error.what))
            if tensors:
                for layer, output in extractor(torch.stack(tensors).to(device)).items():
                    parts[layer].append(output.detach().to("cpu"))
            update(start + len(chunk), len(files))
    read = len(files) - len(skipped)
    if not read:
        raise BadInput(f"none of the {len(files)} images could be read",
                       f"{skipped[0][0]}: {skipped[0][1]}", "pass PNG, JPEG, BMP or other image files")
    features = {layer: torch.cat(tensors) for layer, tensors in parts.items()}
    with writing(out):
        atomic_save(features, out)
    shapes = {layer: list(tensor.shape) for layer, tensor in features.items()}
    if args.json:
        print_json(
            {
                "out": str(args.out),
                "images": read,
                "method": extractor.method,
                "layers": shapes,
                "skipped": [{"path": str(path), "why": why} for path, why in skipped],
            }
        )
        return 0
    for path, why in skipped:
        stderr.print(f"skipped {path}: {why}", highlight=False, markup=False, soft_wrap=True)
    for layer, shape in shapes.items():
        stdout.print(f"{layer}: {shape}", highlight=False, markup=False, soft_wrap=True)
    also = f" (skipped {len(skipped)} unreadable)" if skipped else ""
    stdout.print(f"saved {read} images' features to {args.out}{also}", highlight=False, markup=False,
                 soft_wrap=True)
    return 0
