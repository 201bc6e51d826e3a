"""Evaluate a finetuned model on an image folder: accuracy, per-class precision and recall, and
the confusion matrix, with the training's preprocessing and class names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.errors import BadInput


def evaluate(ref: str, data: str | Path, device: str = "cpu", batch_size: int = 64,
             predictions: str | Path | None = None, trust_code: bool = False,
             images_dir: str | Path | None = None,
             held_out: tuple[float, int] | None = None) -> dict[str, Any]:
    """Return the evaluation of job/checkpoint/recipe `ref` on the class folders under `data`
    (or, for a detector or segmentation model, on a COCO JSON or images/ + masks/); a recipe read
    from a file or job folder may name code only with `trust_code`. With `held_out` (val_split,
    seed), only the images a training on the one folder `data` held out with them are counted."""
    from engine.jobs.evaluate_tasks import evaluate_task
    from engine.train.csv_data import is_csv
    from engine.train.tasks import is_task_data

    if is_task_data(Path(data).expanduser()):
        return evaluate_task(ref, Path(data).expanduser(), device, min(batch_size, 16), predictions,
                             trust_code, images_dir)

    from engine.jobs.trained import open_trained
    from engine.train.data import CheckedImageFolder, check_class_folders, open_image

    given = Path(data).expanduser()
    if is_csv(str(given)):
        return _evaluate_csv(ref, given, device, batch_size, trust_code)
    if not given.is_dir():
        raise BadInput(f"data folder {given} does not exist", "eval reads one folder per class "
                       "or a labels CSV (path,label)", "point --data at a folder like the training's val/")
    root = eval_folder(given)
    check_class_folders(root)
    opened = open_trained(ref, device, trust_code)
    folder = CheckedImageFolder(str(root), transform=opened.preprocess, loader=open_image)
    folder.blank_size = opened.preprocess.input_size
    images: Any = folder
    if held_out is not None:  # the training's own split of one folder (engine.train.data)
        from torch.utils.data import Subset

        from engine.train.data import split_indices

        images = Subset(folder, split_indices(len(folder), *held_out)[1])
    return _evaluate_images(ref, opened, folder, root, batch_size, device, images)


def _evaluate_csv(ref: str, path: Path, device: str, batch_size: int, trust_code: bool) -> dict[str, Any]:
    """Return the evaluation of `ref` on the images a labels CSV names (as a finetune reads it)."""
    from engine.jobs.trained import open_trained
    from engine.train.csv_data import CsvImages, csv_classes, read_labels
    from engine.train.data import UNREADABLE, open_image

    rows = read_labels(path)
    labels = csv_classes(rows, str(path), min_classes=1)
    opened = open_trained(ref, device, trust_code)
    images = CsvImages(rows, labels, opened.preprocess, open_image, opened.preprocess.input_size, UNREADABLE)
    return _evaluate_images(ref, opened, images, path, batch_size, device)


def _evaluate_images(ref: str, opened: Any, folder: Any, root: Path, batch_size: int,
                     device: str, images: Any = None) -> dict[str, Any]:
    """Return the evaluation of an opened model on a dataset of (image, class index) with
    ImageFolder's `classes` (an unreadable image's index is UNREADABLE: skipped and counted);
    `images` is the part of `folder` to count (all of it by default)."""
    from torch.utils.data import DataLoader

    from engine.train.data import UNREADABLE

    classes = list(opened.categories or [])
    images = folder if images is None else images
    unknown = [name for name in folder.classes if name not in classes]
    if unknown:
        raise BadInput(f"{root} has classes the model was not trained on: {', '.join(unknown[:5])}",
                       f"it knows {', '.join(classes[:10])}",
                       "evaluate on data whose classes (folders or CSV labels) are named as in training")
    to_model = torch.tensor([classes.index(name) for name in folder.classes])
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    skipped = 0
    with torch.no_grad():
        for x, y in DataLoader(images, batch_size=batch_size):
            good = y != UNREADABLE
            skipped += int((~good).sum())
            if not bool(good.any()):
                continue
            predicted = opened.model(x[good].to(device)).argmax(1).cpu()
            truth = to_model[y[good]]
            confusion.index_put_((truth, predicted), torch.ones_like(truth), accumulate=True)
    said = {"weights_note": opened.weights_note} if opened.weights_note else {}
    return {**report(ref, classes, confusion, skipped), "data": str(root), **said}


def eval_folder(root: Path) -> Path:
    """Return the folder to evaluate on: `root`'s val/ when it holds train/ and val/ (as a
    finetune's data does, and as the TUI's `e` picks), else `root` itself."""
    from engine.train.data import VAL_NAMES

    val = next((root / name for name in VAL_NAMES if (root / name).is_dir()), None)
    return val if val is not None and (root / "train").is_dir() else root


def report(model: str, classes: list[str], confusion: torch.Tensor, skipped: int = 0) -> dict[str, Any]:
    """Return accuracy, per-class precision/recall/support and the matrix (rows: true class)."""
    total = int(confusion.sum())
    if total == 0:
        raise BadInput("no image could be evaluated", "every image was unreadable or missing",
                       "check the folder's images")
    correct = int(confusion.diag().sum())
    per_class = []
    for i, name in enumerate(classes):
        predicted, actual = int(confusion[:, i].sum()), int(confusion[i].sum())
        hits = int(confusion[i, i])
        per_class.append({"class": name, "precision": hits / predicted if predicted else None,
                          "recall": hits / actual if actual else None, "support": actual})
    return {"model": model, "images": total, "skipped": skipped,
            "accuracy": 100.0 * correct / total, "classes": classes, "per_class": per_class,
            "confusion": confusion.tolist()}
