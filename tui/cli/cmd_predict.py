"""`ptm-tui predict MODEL IMAGE...`: top-k classes (or boxes, keypoints) with category names."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `predict` subcommand."""
    parser = subparsers.add_parser(
        "predict", help="classify images (or detect objects) with a model, names from its weights",
        description="Run images through MODEL with its weights' own preprocessing (resize, crop, "
        "mean/std) and print the top-k categories by name. Detection models print boxes "
        "(and keypoints) with labels and scores; --out draws them on the image.")
    parser.add_argument("model", metavar="MODEL",
                        help="model name, timm/<name>, pkg.mod:factory or file.py:Class; or a "
                        "finetune job id, a checkpoint (.pt) or a recipe (.toml): then labels "
                        "are its class names and preprocessing is the training's")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument("--weights", default="default",
                        help="default, none, a weights name, a file path or a URL")
    parser.add_argument("--topk", type=int, default=5,
                        help="how many classes (or detections) per image (default 5)")
    parser.add_argument("--min-score", type=float, default=0.5,
                        help="detection models: drop boxes scoring below this (default 0.5)")
    parser.add_argument("--out", help="detection models: draw the boxes on the image here; "
                        "segmentation models: write each pixel's class as a PNG of class indices "
                        "at the image's size (a file for one image, a folder for several)")
    parser.add_argument("--device", default="auto", help="auto (best available), cpu, cuda, mps")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per image: {image, top: [{label, index, prob}]}")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def _out_paths(out: str, images: list[str]) -> list[Path]:
    """Return where each image's drawing goes: `out` itself for one image, else out/<stem>.png."""
    from engine.use.images import IMAGE_SUFFIXES

    target = Path(out)
    if len(images) == 1 and target.suffix.lower() in IMAGE_SUFFIXES:
        return [target]
    return [target / f"{Path(image).stem}.pred.png" for image in images]


def _print_classes(result: dict[str, Any]) -> None:
    from tui.cli.output import shown as escape
    from tui.cli.output import stdout

    stdout.print(f"[bold]{escape(result['image'])}[/]", soft_wrap=True)  # a long path stays whole
    width = 24
    for item in result["top"]:
        bar = "█" * max(1, round(item["prob"] * width)) if item["prob"] > 0 else ""
        extra = f"  {item['pixels']:.0%} of pixels" if "pixels" in item else ""
        stdout.print(f"  {item['prob']:7.2%}  [cyan]{bar:<{width}}[/]  {escape(item['label'])} "
                     f"[dim]({item['index']})[/]{extra}", highlight=False)


def _print_detections(result: dict[str, Any]) -> None:
    from tui.cli.output import shown as escape
    from tui.cli.output import stdout

    found = result["detections"]
    stdout.print(f"[bold]{escape(result['image'])}[/] {len(found)} detection(s)", soft_wrap=True)
    for item in found:
        box = ", ".join(f"{v:.0f}" for v in item["box"])
        stdout.print(f"  {item['score']:.3f}  {escape(item['label'])} [dim]({item['index']})[/]"
                     f"  box [{box}]", highlight=False)
        points = [p for p in item.get("keypoints", []) if p["visible"]]
        if points:
            shown = ", ".join(f"{p['name']} ({p['x']:.0f},{p['y']:.0f})" for p in points[:6])
            more = f" +{len(points) - 6}" if len(points) > 6 else ""
            stdout.print(f"      keypoints: {escape(shown)}{more}", highlight=False)


def run(args: argparse.Namespace) -> int:
    """Predict and print; return the exit code."""
    from engine.errors import BadInput
    from engine.jobs.trained import open_for_use
    from engine.outputs import check_output_file
    from engine.use.devices import resolve_device
    from engine.use.images import load_image
    from engine.use.inference import draw_detections, predict_ready
    from tui.cli.output import print_json, progress_bar, shown, stderr

    if args.topk < 1:
        raise BadInput(f"--topk must be at least 1, got {args.topk}", "there is nothing to show",
                       "e.g. --topk 5")
    if not 0.0 <= args.min_score <= 1.0:
        raise BadInput(f"--min-score must be between 0 and 1, got {args.min_score}",
                       "it is a detection score (a probability)", "e.g. --min-score 0.5")
    for image in args.images:
        load_image(image)  # a bad path is reported before the model is opened
    out_paths = _out_paths(args.out, args.images) if args.out else []
    for path in out_paths:  # so is an --out that cannot be written
        check_output_file(path)
    device = resolve_device(args.device)
    with progress_bar(f"opening {args.model}") as update:
        ready = open_for_use(args.model, args.weights, device, progress=update,
                             trust_code=args.trust_code)
    if ready.labels_note:
        stderr.print(f"note: {shown(ready.labels_note)}", highlight=False, soft_wrap=True)
    if ready.weights_note:
        stderr.print(shown(ready.weights_note), highlight=False, soft_wrap=True)
    from engine.inspect.detection import is_detection_model, is_segmentation_model

    segmenter = not is_detection_model(ready.model) and is_segmentation_model(ready.model)
    if args.out and not is_detection_model(ready.model) and not segmenter:  # before the images run
        raise BadInput("--out draws boxes or writes class masks, and this model does not detect objects "
                       "or segment images",
                       f"{args.model} is not a detection or segmentation model", "drop --out")
    if segmenter and any(path.suffix.lower() != ".png" for path in out_paths):
        raise BadInput(f"--out {args.out} is not a .png file or a folder",
                       "a class mask is a PNG of class indices (a lossy format would change them)",
                       "end --out with .png, or name a folder")
    results = predict_ready(ready, args.images, topk=args.topk, min_score=args.min_score)
    detection = bool(results) and "detections" in results[0]
    if args.out:
        from engine.outputs import writing
        from engine.use.inference import write_class_map

        for image, result, path in zip(args.images, results, out_paths):
            with writing(path):
                if segmenter:
                    result["mask"] = str(write_class_map(result, path))
                else:
                    result["drawn"] = str(draw_detections(image, result, path))
    for result in results:
        result.pop("class_map", None)  # a tensor: written above when asked for
    for result in results:
        if args.json:
            print_json(result)
        elif detection:
            _print_detections(result)
        else:
            _print_classes(result)
    if args.out and not args.json:
        verb, key = ("wrote the class masks of", "mask") if segmenter else ("drew", "drawn")
        stderr.print(f"{verb} {len(results)} image(s): "
                     f"{', '.join(r[key] for r in results)}", highlight=False,
                     soft_wrap=True)
    return 0
