"""Classification data as a CSV of `path,label` rows (paths relative to the CSV), alongside
ImageFolder: read bounded, every path kept inside the CSV's folder, unreadable images skipped."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from engine.errors import BadInput
from engine.readfile import Unreadable, decode, read_bytes

MAX_CSV_BYTES = 256 << 20
"""A labels CSV larger than this is refused (about 4 million rows)."""
COLUMNS = ("path", "label")


def is_csv(data: str) -> bool:
    """Return True when [train] data names a labels CSV (by its .csv suffix)."""
    return data.lower().endswith(".csv")


def read_labels(csv_path: Path) -> list[tuple[str, str]]:
    """Return the (image path, label) rows of a labels CSV, each path resolved inside its folder;
    raise BadInput naming the file and row for anything else."""
    where = str(csv_path)
    try:
        text = decode(read_bytes(csv_path, MAX_CSV_BYTES), where).removeprefix("\ufeff")  # Excel's BOM
    except FileNotFoundError:
        raise BadInput(
            f"the labels CSV {where} does not exist",
            "[train] data names a .csv file",
            "check the path (paths in it are relative to its folder)",
        ) from None
    except (Unreadable, OSError) as error:
        raise BadInput(
            f"cannot read the labels CSV {where}", str(error), "give a UTF-8 CSV file with path,label columns"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if not all(column in header for column in COLUMNS):
        raise BadInput(
            f"{where} has no path and label columns (its header: {', '.join(header)[:200]})",
            "a labels CSV has a header row naming the columns path and label",
            "make the first line: path,label",
        )
    reader.fieldnames = header
    root = csv_path.parent.resolve()
    rows = []
    for line, row in enumerate(reader, start=2):
        name, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        if not name or not label:
            raise BadInput(
                f"{where} line {line}: the path or the label is empty",
                "every row names an image and its class",
                "fill in or remove that row",
            )
        path = (root / name).resolve()
        if Path(name).is_absolute() or not path.is_relative_to(root):
            raise BadInput(
                f"{where} line {line}: {name[:200]!r} is outside the CSV's folder",
                "image paths are relative to the CSV and stay inside its folder",
                "move the images under the CSV's folder and give relative paths",
            )
        rows.append((str(path), label))
    return rows


def csv_classes(rows: list[tuple[str, str]], where: str, min_classes: int = 2) -> list[str]:
    """Return the sorted class names of the rows; refuse fewer than `min_classes`."""
    classes = sorted({label for _, label in rows})
    if len(classes) < min_classes:
        raise BadInput(
            f"{where} has {len(classes)} class(es)",
            "a classifier needs at least two classes to learn anything",
            "add rows with images of the other classes",
        )
    return classes


class CsvImages(Dataset):
    """The images of a labels CSV with ImageFolder's attributes (samples, targets, classes);
    an unreadable image comes back blank with the target UNREADABLE, as CheckedImageFolder's."""

    def __init__(
        self,
        rows: list[tuple[str, str]],
        classes: list[str],
        transform: Any,
        loader: Any,
        blank_size: int,
        unreadable: int,
    ) -> None:
        self.classes = list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = [(path, self.class_to_idx[label]) for path, label in rows]
        self.imgs = self.samples
        self.targets = [target for _, target in self.samples]
        self.transform, self.loader = transform, loader
        self.blank_size, self.unreadable = blank_size, unreadable

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        """Return (image tensor, class index), or (zeros, UNREADABLE) for a file that fails."""
        path, target = self.samples[index]
        try:
            sample = self.transform(self.loader(path))
        except Exception:  # missing, truncated, empty, not an image, a bomb: skipped and counted
            return torch.zeros(3, self.blank_size, self.blank_size), self.unreadable
        return sample, target


def check_val_labels(rows: list[tuple[str, str]], classes: list[str], where: str) -> None:
    """Refuse validation rows whose labels the training rows lack."""
    extra = sorted({label for _, label in rows} - set(classes))
    if extra:
        raise BadInput(
            f"{where} has labels the training CSV lacks: {', '.join(extra[:5])}",
            "the model can only predict classes it was trained on",
            "add training rows of those classes or remove them from the validation CSV",
        )


def check_csv_data(data: str, val_data: str) -> list[str]:
    """Refuse (BadInput) a labels CSV (and validation CSV) a job could not train on; return the
    class names."""
    path = Path(data).expanduser()
    classes = csv_classes(read_labels(path), str(path))
    if val_data:
        val_path = Path(val_data).expanduser()
        check_val_labels(read_labels(val_path), classes, str(val_path))
    return classes
