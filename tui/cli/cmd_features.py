"""`ptm-tui features MODEL --layers a,b --images DIR --out FILE`: save chosen layers' outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def register(subparsers: Any) -> None:
    """Add the `features` subcommand."""
    parser = subparsers.add_parser(
        "features",
        help="save the outputs of chosen layers for a folder of images",
        description="Run images through MODEL and save {layer: tensor [N, ...]} to FILE "
        "(.pt, loadable with torch.load(weights_only=True)).",
    )
    parser.add_argument("model", help="model name, timm/<name>, pkg.mod:factory or file.py:Class")
    parser.add_argument(
        "--layers",
        required=True,
        help="comma-separated layer paths or graph nodes, e.g. layer3,layer4,fc",
    )
    parser.add_argument(
        "--weights", default="default", help="default, none, a weights name, a file path or a URL"
    )
    parser.add_argument(
        "--images", required=True, nargs="+", help="image files or folders of images"
    )
    parser.add_argument("--out", required=True, help="output file (.pt)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--json", action="store_true", help="print {layer: shape} as JSON")
    parser.set_defaults(func=run)


def image_files(items: list[str]) -> list[Path]:
    """Return the image files named by paths and folders (folders searched recursively, sorted)."""
    from engine.errors import BadInput

    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise BadInput(
                f"no image file or folder {item!r}",
                "the path does not exist",
                "give image files or folders that contain images",
            )
    if not files:
        raise BadInput(
            "no images found",
            f"no {', '.join(IMAGE_SUFFIXES)} files in {', '.join(items)}",
            "point --images at image files or a folder of them",
        )
    return files


def preprocessing(name: str, weights: str) -> tuple[int, int, tuple, tuple]:
    """Return (resize size, crop size, mean, std) from the weights' transforms, else ImageNet's."""
    resize, crop, mean, std = 224, 224, IMAGENET_MEAN, IMAGENET_STD
    info = None
    if weights != "none":
        try:
            from engine.catalog import resolve_weights

            info = resolve_weights(name, weights)
        except Exception:
            info = None
    if info is not None:
        crop = int(getattr(info, "crop_size", None) or crop)
        resize = int(getattr(info, "resize_size", None) or crop)
        mean = tuple(getattr(info, "mean", None) or mean)
        std = tuple(getattr(info, "std", None) or std)
    return resize, crop, mean, std


def load_image(path: Path, resize: int, crop: int, mean: tuple, std: tuple) -> Any:
    """Return an image file as a normalised [3, crop, crop] float tensor."""
    import torch
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as F

    from engine.errors import BadInput

    try:
        with Image.open(path) as image:
            tensor = F.pil_to_tensor(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise BadInput(f"cannot read image {path}", str(error), "remove it or convert it") from None
    tensor = F.resize(tensor, [resize], antialias=True)
    tensor = F.center_crop(tensor, [crop])
    tensor = tensor.to(torch.float32) / 255.0
    return F.normalize(tensor, list(mean), list(std))


def run(args: argparse.Namespace) -> int:
    """Extract the features and return the exit code."""
    import torch

    from engine.atomic import atomic_save
    from engine.errors import BadInput
    from engine.features import FeatureExtractor
    from engine.session import Workbench
    from tui.cli.output import print_json, progress_bar, stdout

    layers = [layer.strip() for layer in args.layers.split(",") if layer.strip()]
    files = image_files(args.images)
    if args.batch_size < 1:
        raise BadInput(
            "--batch-size must be at least 1", f"got {args.batch_size}", "e.g. --batch-size 16"
        )
    with progress_bar(f"opening {args.model}") as update:
        workbench = Workbench.open(
            args.model, weights=args.weights, device=args.device, progress=update
        )
    resize, crop, mean, std = preprocessing(args.model, args.weights)
    extractor = FeatureExtractor(workbench.model, layers)
    parts: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with progress_bar("extracting features", total=len(files)) as update:
        for start in range(0, len(files), args.batch_size):
            chunk = files[start : start + args.batch_size]
            batch = torch.stack([load_image(p, resize, crop, mean, std) for p in chunk])
            for layer, tensor in extractor(batch.to(args.device)).items():
                parts[layer].append(tensor.detach().to("cpu"))
            update(start + len(chunk), len(files))
    features = {layer: torch.cat(tensors) for layer, tensors in parts.items()}
    atomic_save(features, args.out)
    shapes = {layer: list(tensor.shape) for layer, tensor in features.items()}
    if args.json:
        print_json(
            {
                "out": str(args.out),
                "images": len(files),
                "method": extractor.method,
                "layers": shapes,
            }
        )
    else:
        for layer, shape in shapes.items():
            stdout.print(f"{layer}: {shape}", highlight=False, markup=False, soft_wrap=True)
        stdout.print(
            f"saved {len(files)} images' features to {args.out}", highlight=False, markup=False
        )
    return 0
