"""What a data path holds, counted quickly and within bounds for a form to show while the user
types: images, annotations and categories of a COCO JSON, images/masks and classes of a
segmentation folder, images and classes of an ImageFolder or labels CSV. The job's own checks
(each task's check_data) still read everything before it trains."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import BadInput
from engine.readfile import Unreadable, decode, read_bytes, read_json
from engine.train.csv_data import csv_classes, is_csv, read_labels
from engine.train.data import VAL_NAMES, check_class_folders
from engine.train.tasks.segmentation import IMAGE_SUFFIXES

MAX_FILES = 200_000
"""Folder entries looked at per count; beyond, counts are shown as "at least"."""
MAX_JSON_BYTES = 512 << 20
"""A COCO JSON larger than this is not counted here (the job still reads up to its own limit)."""
COCO_TASKS = ("detection", "instance_segmentation", "keypoints")
SHOWN = 3
"""Class names shown before "..."."""


@dataclass
class DataFound:
    """The counts of one data path (None: not counted for this format)."""

    format: str
    images: int
    classes: list[str] = field(default_factory=list)
    """Class or category names (empty: not known before the job reads the masks)."""
    annotations: int | None = None
    masks: int | None = None
    val_images: int | None = None
    at_least: bool = False
    """A folder count stopped at MAX_FILES entries."""
    keypoints: int = 0
    """Keypoints per object a keypoint model's COCO categories name (0: not counted)."""

    def words(self) -> str:
        """Return the counts as one line: `COCO JSON: 120 images (+30 val), 340 annotations, ...`."""
        more = "at least " if self.at_least else ""
        parts = [f"{more}{_count(self.images, 'image')}"]
        if self.val_images is not None:
            parts[0] += f" (+{more}{self.val_images:,} val)"
        if self.masks is not None:
            parts.append(f"{more}{_count(self.masks, 'mask')}")
        if self.annotations is not None:
            parts.append(_count(self.annotations, "annotation"))
        kind = "category" if self.annotations is not None else "class"
        if self.classes:
            names = ", ".join(self.classes[:SHOWN]) + (", ..." if len(self.classes) > SHOWN else "")
            parts.append(f"{_count(len(self.classes), kind)} ({names})")
        if self.keypoints:
            parts.append(_count(self.keypoints, "keypoint"))
        elif self.masks is not None:
            parts.append("classes from the masks (no classes.txt)")
        return f"{self.format}: " + ", ".join(parts)


def _count(number: int, word: str) -> str:
    plural = "categories" if word == "category" else ("classes" if word == "class" else word + "s")
    return f"{number:,} {word if number == 1 else plural}"


class _Budget:
    """Folder entries left to look at, shared by every count of one path."""

    def __init__(self, entries: int) -> None:
        self.left = entries

    def count(self, folder: Path, suffixes: tuple[str, ...], deep: bool = False) -> int:
        """Return the files in `folder` (and below when `deep`) ending in `suffixes`."""
        found = 0
        walk = os.walk(folder) if deep else [(str(folder), [], None)]
        for top, _dirs, names in walk:
            if names is None:
                names = _names(Path(top))
            for name in names:
                if self.left <= 0:
                    return found
                self.left -= 1
                found += name.lower().endswith(suffixes)
        return found


def _names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries if entry.is_file()]
    except OSError:
        return []


def find_data(data: str, task: str = "classification", val_data: str = "") -> DataFound:
    """Return what `data` holds for a model of `task`; raise BadInput when it is missing or not
    the format that task reads."""
    if not data:
        raise BadInput("no data given", "the job trains on it", "type the path of the training data")
    path = Path(data).expanduser()
    if not path.exists():
        raise BadInput(f"{path} does not exist", "the job reads its images from there", "check the path")
    if task in COCO_TASKS:
        return _coco(path, val_data, task == "keypoints")
    if path.suffix.lower() == ".json":
        raise BadInput(
            f"{path.name} is COCO JSON, which detection models read",
            f"a {task.replace('_', ' ')} model reads "
            + ("images/ + masks/" if task == "semantic_segmentation" else "an ImageFolder or a labels CSV"),
            "point data at that, or open a detection model",
        )
    if task == "semantic_segmentation":
        return _masks(path)
    return _labels_csv(path, val_data) if is_csv(data) else _image_folder(path)


def _coco(path: Path, val_data: str, keypoints: bool = False) -> DataFound:
    if path.suffix.lower() != ".json" or not path.is_file():
        raise BadInput(
            f"{path} is not a COCO JSON file",
            "detection, instance-segmentation and keypoint models read COCO JSON",
            'point data at e.g. "annotations/train.json"',
        )
    content = _coco_json(path)
    found = DataFound(
        "COCO JSON",
        len(content["images"]),
        [str(c.get("name", c.get("id"))) if isinstance(c, dict) else "?" for c in content["categories"]],
        annotations=len(content["annotations"]),
    )
    if keypoints:  # the names of the first category that lists them, as the job reads them
        named = (c.get("keypoints") for c in content["categories"] if isinstance(c, dict))
        found.keypoints = len(next((n for n in named if isinstance(n, list) and n), []))
    if val_data and Path(val_data).expanduser().is_file():
        found.val_images = len(_coco_json(Path(val_data).expanduser())["images"])
    return found


def _coco_json(path: Path) -> dict:
    try:
        content = read_json(path, MAX_JSON_BYTES)
    except (Unreadable, OSError, ValueError) as error:
        raise BadInput(
            f"cannot count {path.name}", str(error)[:200], "check the file (the job reads it)"
        ) from None
    if not isinstance(content, dict) or not all(
        isinstance(content.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise BadInput(
            f"{path.name} is not COCO JSON",
            "COCO JSON is an object with images, annotations and categories lists",
            "check the file",
        )
    return content


def _masks(root: Path) -> DataFound:
    budget = _Budget(MAX_FILES)
    val = next((root / n for n in VAL_NAMES if (root / n / "images").is_dir()), None)
    train = root / "train" if (root / "train" / "images").is_dir() and val is not None else root
    if not (train / "images").is_dir() or not (train / "masks").is_dir():
        raise BadInput(
            f"{root} has no images/ and masks/ folders",
            "a segmentation model reads images/ + masks/ (or train/ and val/ with both inside)",
            "point data at that folder",
        )
    found = DataFound(
        "images/ + masks/",
        budget.count(train / "images", IMAGE_SUFFIXES),
        _classes_txt(root),
        masks=budget.count(train / "masks", (".png",)),
    )
    if train != root and val is not None:
        found.format = f"images/ + masks/ (train/, {val.name}/)"
        found.val_images = budget.count(val / "images", IMAGE_SUFFIXES)
    found.at_least = budget.left <= 0
    return found


def _classes_txt(root: Path) -> list[str]:
    for place in (root / "classes.txt", root / "train" / "classes.txt"):
        try:
            text = decode(read_bytes(place, 1 << 20), str(place))
        except (Unreadable, OSError):
            continue
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if names:
            return names
    return []


def _image_folder(root: Path) -> DataFound:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    if not root.is_dir():
        raise BadInput(
            f"{root} is not a folder or a .csv",
            "a classifier reads an ImageFolder (one sub-folder of images per class) or a path,label CSV",
            "point data at one of those",
        )
    budget = _Budget(MAX_FILES)
    val = next((root / n for n in VAL_NAMES if (root / n).is_dir()), None)
    train = root / "train" if (root / "train").is_dir() and val is not None else root
    classes = check_class_folders(train)
    images = sum(budget.count(train / name, IMG_EXTENSIONS, deep=True) for name in classes)
    found = DataFound("ImageFolder", images, classes)
    if train != root and val is not None:
        found.format = f"ImageFolder (train/, {val.name}/)"
        found.val_images = sum(
            budget.count(val / name, IMG_EXTENSIONS, deep=True) for name in check_class_folders(val)
        )
    found.at_least = budget.left <= 0
    return found


def _labels_csv(path: Path, val_data: str) -> DataFound:
    rows = read_labels(path)
    found = DataFound("labels CSV", len(rows), csv_classes(rows, str(path), min_classes=1))
    if val_data and is_csv(val_data):
        found.val_images = len(read_labels(Path(val_data).expanduser()))
    return found
