"""`ptm-tui eval JOB|CKPT --data DIR`: accuracy, per-class precision/recall, confusion matrix."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.cli.trust import add_trust_flag


def register(subparsers: Any) -> None:
    """Add the `eval` subcommand."""
    parser = subparsers.add_parser(
        "eval", help="evaluate a finetuned model on an image folder (accuracy, confusion matrix)",
        description="Run a finetune job's newest checkpoint (or a checkpoint file, or a recipe) "
        "over DIR (one sub-folder per class, named as in training) with the training's "
        "preprocessing; print the accuracy, each class's precision and recall, and the "
        "confusion matrix (rows: true class, columns: predicted). Unreadable images are skipped "
        "and counted.")
    parser.add_argument("model", metavar="JOB|CKPT|RECIPE",
                        help="a job id, a checkpoint file (.pt) or a recipe (.toml)")
    parser.add_argument("--data", required=True, metavar="DIR|FILE",
                        help="class folders of images or a labels CSV (path,label); a COCO JSON or "
                        "images/ + masks/ for detection and segmentation models")
    parser.add_argument("--images", metavar="DIR", default=None,
                        help="a COCO JSON's images folder: file_name paths are relative to it "
                        "(default: the JSON's folder), as images = \"DIR\" in [train]")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (64)")
    parser.add_argument("--predictions", metavar="PATH", default=None,
                        help="detection: write the COCO results JSON; segmentation: one PNG of "
                        "class indices per image into the folder PATH")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_trust_flag(parser)
    parser.set_defaults(func=run)


def _pct(value: float | None) -> str:
    return f"{100 * value:.1f}%" if value is not None else "-"


def run(args: argparse.Namespace) -> int:
    """Evaluate and print; return the exit code."""
    from rich import box
    from rich.table import Table

    from engine.errors import BadInput
    from engine.jobs.evaluate import evaluate
    from engine.use.devices import resolve_device
    from tui.cli.output import print_json, stderr, stdout
    from tui.cli.output import shown as escape

    if not 1 <= args.batch_size <= 65536:
        raise BadInput(f"--batch-size {args.batch_size} is not valid", "it is images per batch",
                       "use e.g. --batch-size 64")
    if args.images and Path(args.data).suffix.lower() != ".json":
        raise BadInput(f"--images is for a COCO JSON, and {args.data} is not one",
                       "only a COCO file names its images by file_name",
                       "drop --images (class folders and images/ + masks/ hold their images)")
    result = evaluate(args.model, args.data, resolve_device(args.device), args.batch_size,
                      predictions=args.predictions, trust_code=args.trust_code,
                      images_dir=args.images)
    if "task" not in result and Path(result["data"]) != Path(args.data).expanduser():
        stderr.print(f"note: {escape(args.data)} holds train/ and val/: evaluated on "
                     f"{escape(result['data'])}", highlight=False, soft_wrap=True)
    if result.get("weights_note") and not args.json:
        stderr.print(escape(result["weights_note"]), highlight=False, soft_wrap=True)
    if args.json:
        print_json(result)
        return 0
    if "task" in result:  # detection or segmentation: its own figures
        figures = {k: v for k, v in result.items() if isinstance(v, float)}
        stdout.print(f"[bold]{escape(args.model)}[/] on {escape(args.data)} ({result['task']}, "
                     f"{result['images']} images): " + ", ".join(
                         f"{k} {v:.4f}" for k, v in figures.items()), highlight=False)
        return 0
    skipped = f", {result['skipped']} unreadable skipped" if result["skipped"] else ""
    stdout.print(f"[bold]{escape(args.model)}[/] on {escape(result['data'])}: accuracy "
                 f"[bold]{result['accuracy']:.2f}%[/] over {result['images']} images{skipped}",
                 highlight=False)
    table = Table("class", "precision", "recall", "images", box=box.SIMPLE_HEAD)
    for row in result["per_class"]:
        table.add_row(escape(row["class"]), _pct(row["precision"]), _pct(row["recall"]),
                      str(row["support"]))
    stdout.print(table)
    matrix = Table("true \\ predicted", *[escape(c)[:8] for c in result["classes"]],
                   box=box.SIMPLE_HEAD)
    for name, counts in zip(result["classes"], result["confusion"]):
        matrix.add_row(escape(name)[:16], *[str(n) if n else "." for n in counts])
    stdout.print(matrix)
    return 0
