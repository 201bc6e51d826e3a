"""Image folders for finetuning: train/val datasets, transforms, and epoch-seeded batch order."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler, Subset
from torchvision.datasets import ImageFolder

from engine.errors import BadInput
from engine.train.config import TrainConfig
from engine.train.csv_data import (
    CsvImages,
    check_csv_data,
    check_val_labels,
    csv_classes,
    is_csv,
    read_labels,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VAL_NAMES = ("val", "valid", "validation")


@dataclass
class Datasets:
    """The train and validation datasets with their class names."""

    train: Dataset
    val: Dataset
    classes: list[str]
    layout: str
    """How they were found, in words ("train/ and val/" or "one folder, 20% held out")."""
    meaning: dict[str, Any] = field(default_factory=dict)
    """What else a checkpoint must carry to be read (a task's keypoint names, category ids)."""


def _size(meta: dict[str, Any], key: str, default: int) -> int:
    value = meta.get(key)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return int(value) if value else default


INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def interpolation(meta: dict[str, Any] | None) -> str:
    """Return the resize interpolation the weights were trained with (timm's cfg: often bicubic)."""
    mode = str((meta or {}).get("interpolation") or "bilinear").lower()
    return mode if mode in INTERPOLATIONS else "bilinear"


def preprocessing(config: TrainConfig, meta: dict[str, Any] | None = None,
                  channels: int = 3) -> dict[str, Any]:
    """Return how validation images become the model's input (`channels` of them), as plain data
    for a checkpoint.

    `resize` is a square size (image_size given) or the shorter side before a centre `crop`.
    """
    meta = meta or {}
    mean = [float(v) for v in (meta.get("mean") or IMAGENET_MEAN)]
    std = [float(v) for v in (meta.get("std") or IMAGENET_STD)]
    if config.image_size:
        size = int(config.image_size)
        return {"resize": [size, size], "crop": None, "input_size": [channels, size, size],
                "mean": mean, "std": std, "interpolation": interpolation(meta), "antialias": True}
    crop = _size(meta, "crop_size", 224)
    return {"resize": [_size(meta, "resize_size", round(crop * 256 / 224))], "crop": crop,
            "input_size": [channels, crop, crop], "mean": mean, "std": std,
            "interpolation": interpolation(meta), "antialias": True}


def build_transforms(config: TrainConfig, meta: dict[str, Any] | None = None,
                     channels: int = 3) -> tuple[Any, Any]:
    """Return (train, val) transforms from the weights' meta (resize/crop/mean/std) or defaults,
    ending in the model's `channels` (grayscale for 1, engine.use.channels)."""
    from torchvision import transforms as T

    from engine.train.augment import erasing_steps, policy_steps
    from engine.use.channels import MatchChannels

    meta = meta or {}
    mean = tuple(meta.get("mean") or IMAGENET_MEAN)
    std = tuple(meta.get("std") or IMAGENET_STD)
    mode = T.InterpolationMode(interpolation(meta))
    if config.image_size:
        crop = config.image_size
        resize: list[Any] = [T.Resize((crop, crop), interpolation=mode, antialias=True)]
    else:
        crop = _size(meta, "crop_size", 224)
        resize = [T.Resize(_size(meta, "resize_size", round(crop * 256 / 224)), interpolation=mode,
                           antialias=True), T.CenterCrop(crop)]
    tail = [T.ToTensor(), T.Normalize(mean, std)] + ([MatchChannels(channels)] if channels != 3
                                                     else [])
    val = T.Compose([*resize, *tail])
    train_steps: list[Any] = []
    if "crop" in config.augment:
        train_steps.append(T.RandomResizedCrop(crop, scale=(0.5, 1.0), interpolation=mode,
                                               antialias=True))
    else:
        train_steps.extend(resize)
    if "flip" in config.augment:
        train_steps.append(T.RandomHorizontalFlip())
    if "color" in config.augment:
        train_steps.append(T.ColorJitter(0.2, 0.2, 0.2))
    train_steps.extend(policy_steps(config, mode))
    return T.Compose([*train_steps, *tail, *erasing_steps(config)]), val


UNREADABLE = -100
"""The target of an image that could not be read: CrossEntropyLoss's ignore_index, so the
loss skips it, and the trainer counts and names it (the file is decoded once, as always)."""


def open_image(path: str) -> Any:
    """Return the image at `path` as RGB; raise on a truncated, empty or non-image file or a
    decompression bomb (more pixels than PIL's MAX_IMAGE_PIXELS), and on a FIFO, device or
    socket, refused by type before it is opened (reading one would block the loader)."""
    import stat
    import warnings

    from PIL import Image

    from engine.readfile import Unreadable, check_regular, kind_of

    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with warnings.catch_warnings(), os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped in after the check
            raise Unreadable(f"{path} is {kind_of(mode)}, not a file")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(handle)
        return image.convert("RGB")


HELD_LOCK_ENV = "PTM_JOB_LOCK_HELD"
"""Set by the job runner to the descriptor of its job lock, which loader workers let go of."""


def loader_worker_init(_worker: int) -> None:
    """In a DataLoader worker: leave SIGTERM/SIGINT to the trainer and let go of the job lock.

    A stop signal sent to the job's process group would otherwise kill the workers mid-batch
    and turn a clean stop into "DataLoader worker (pid ...) is killed by signal"; the trainer
    shuts them down itself. A worker outliving a killed runner must not keep the job locked.
    """
    import contextlib
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    held = os.environ.get(HELD_LOCK_ENV, "")
    if held.isdigit():
        with contextlib.suppress(OSError):
            os.close(int(held))


class CheckedImageFolder(ImageFolder):
    """An ImageFolder whose unreadable images come back blank with the target UNREADABLE."""

    blank_size = 224

    def __getitem__(self, index: int) -> tuple[Any, int]:
        """Return (image tensor, class index), or (zeros, UNREADABLE) for a file that fails."""
        path, target = self.samples[index]
        try:
            sample = self.loader(path)
            if self.transform is not None:
                sample = self.transform(sample)
        except Exception:  # truncated, empty, not an image, a bomb: skipped and counted
            return torch.zeros(3, self.blank_size, self.blank_size), UNREADABLE
        return sample, target


def image_path(dataset: Any, index: int) -> str:
    """Return the file behind sample `index` of an image folder (or a Subset of one)."""
    while isinstance(dataset, Subset):
        dataset, index = dataset.dataset, dataset.indices[index]
    return str(dataset.samples[index][0])


def _image_folder(root: Path, transform: Any, size: int = 224) -> Any:
    try:
        folder = CheckedImageFolder(str(root), transform=transform, loader=open_image)
        folder.blank_size = size
        return folder
    except (FileNotFoundError, OSError) as error:
        raise BadInput(f"no images found under {root}", str(error),
                       "point data at a folder with one sub-folder of images per class") from None


def _align_classes(train: Any, val: Any, val_name: str) -> None:
    """Give `val` the class numbering of `train` (val may lack classes, never add one)."""
    extra = sorted(set(val.classes) - set(train.classes))
    if extra:
        raise BadInput(f"{val_name}/ has classes that train/ lacks: {', '.join(extra[:5])}",
                       "the model can only predict classes it was trained on",
                       f"add those class folders to train/ or remove them from {val_name}/")
    index = [train.class_to_idx[name] for name in val.classes]
    val.samples = [(path, index[target]) for path, target in val.samples]
    val.imgs = val.samples
    val.targets = [target for _, target in val.samples]
    val.classes, val.class_to_idx = list(train.classes), dict(train.class_to_idx)


def _check_classes_folder(root: Path, min_classes: int = 2) -> list[str]:
    """Return the class names of an ImageFolder root, or raise BadInput saying what is wrong.

    Cheap: lists folders and stops at the first image file of each class; decodes nothing.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS

    try:
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    except OSError as error:
        raise BadInput(f"cannot read the data folder {root}", error.strerror or str(error),
                       "check the path and its permissions") from None
    layout = "one sub-folder of images per class (e.g. data/cat/1.jpg, data/dog/2.jpg)"
    if not classes:
        raise BadInput(f"{root} has no class sub-folders", f"finetuning expects {layout}",
                       "put each class's images in a folder named after the class")
    if len(classes) < min_classes:
        raise BadInput(f"{root} has one class ({classes[0]})",
                       "a classifier needs at least two classes to learn anything",
                       "add a folder of images for each other class")
    empty = []
    for name in classes:
        found = False
        for _dirpath, _dirs, files in os.walk(root / name, followlinks=True):
            if any(f.lower().endswith(IMG_EXTENSIONS) for f in files):
                found = True
                break
        if not found:
            empty.append(name)
    if empty:
        raise BadInput(f"{root}: class folder(s) without images: {', '.join(empty[:5])}",
                       f"image files end in {', '.join(IMG_EXTENSIONS[:4])}, ...",
                       "add images there or remove those folders")
    return classes


def check_class_folders(root: Path) -> list[str]:
    """Return the class folder names under `root`, or raise BadInput when it has none with images."""
    return _check_classes_folder(root, min_classes=1)


def class_names(config: TrainConfig) -> list[str]:
    """Return the class names of config.data (its train/ folder when it has train/ and val/)."""
    if is_csv(config.data):
        return check_csv_data(config.data, "")
    root = Path(config.data).expanduser()
    has_val = any((root / name).is_dir() for name in VAL_NAMES)
    return _check_classes_folder(root / "train" if (root / "train").is_dir() and has_val else root)


def check_data_folder(config: TrainConfig) -> list[str]:
    """Refuse (BadInput) a data folder a job could not train on, before the job exists; return
    its class names (the training classes)."""
    if is_csv(config.data):
        return check_csv_data(config.data, config.val_data)
    root = Path(config.data).expanduser()
    val_dir = next((root / name for name in VAL_NAMES if (root / name).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        classes = _check_classes_folder(root / "train")
        _check_classes_folder(val_dir, min_classes=1)
        return classes
    return _check_classes_folder(root)


def split_indices(n: int, val_split: float, seed: int) -> tuple[list[int], list[int]]:
    """Return (train, val) index lists: a seeded permutation, the first val_split held out."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(n * val_split)) if val_split > 0 else 0
    return sorted(order[n_val:]), sorted(order[:n_val])


def build_datasets(config: TrainConfig, meta: dict[str, Any] | None = None,
                   channels: int = 3) -> Datasets:
    """Return the train/val datasets of config.data (train/ + val/, or one folder split by seed),
    their images with the model's `channels`."""
    if not config.data:
        raise BadInput("no training data given", "[train] data is empty",
                       "set data = \"path/to/images\" in [train] or pass --data PATH")
    root = Path(config.data).expanduser()
    train_tf, val_tf = build_transforms(config, meta, channels)
    size = config.image_size or _size(meta or {}, "crop_size", 224)
    if is_csv(config.data):
        return _csv_datasets(config, root, (train_tf, val_tf), size)
    if not root.is_dir():
        raise BadInput(f"data folder {root} does not exist", "[train] data must be a folder or a .csv",
                       "point data at an ImageFolder root (one sub-folder per class) or a path,label CSV")
    val_dir = next((root / name for name in VAL_NAMES if (root / name).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        train = _image_folder(root / "train", train_tf, size)
        val = _image_folder(val_dir, val_tf, size)
        if train.classes != val.classes:
            _align_classes(train, val, val_dir.name)
        return Datasets(train, val, list(train.classes), f"train/ and {val_dir.name}/")
    if config.val_split <= 0:
        raise BadInput(f"{root} has no val/ folder and val_split is 0",
                       "a validation set is needed to report accuracy",
                       "add a val/ folder or set val_split = 0.2")
    full_train = _image_folder(root, train_tf, size)
    full_val = _image_folder(root, val_tf, size)
    train_idx, val_idx = split_indices(len(full_train), config.val_split, config.seed)
    return Datasets(Subset(full_train, train_idx), Subset(full_val, val_idx),
                    list(full_train.classes),
                    f"one folder, {config.val_split:.0%} held out (seed {config.seed})")


def _csv_datasets(config: TrainConfig, path: Path, transforms: tuple[Any, Any], size: int) -> Datasets:
    """Return the datasets of a labels CSV: with val_data (another CSV) or split by val_split."""
    rows = read_labels(path)
    classes = csv_classes(rows, str(path))

    def images(part: list[tuple[str, str]], transform: Any) -> CsvImages:
        return CsvImages(part, classes, transform, open_image, size, UNREADABLE)

    if config.val_data:
        val_path = Path(config.val_data).expanduser()
        val_rows = read_labels(val_path)
        check_val_labels(val_rows, classes, str(val_path))
        return Datasets(images(rows, transforms[0]), images(val_rows, transforms[1]), classes,
                        f"{path.name} and {val_path.name}")
    if config.val_split <= 0:
        raise BadInput(f"{path} comes without val_data and val_split is 0",
                       "a validation set is needed to report accuracy",
                       'set val_data = "val.csv" or val_split = 0.2')
    train_idx, val_idx = split_indices(len(rows), config.val_split, config.seed)
    train, val = images(rows, transforms[0]), images(rows, transforms[1])
    return Datasets(Subset(train, train_idx), Subset(val, val_idx), classes,
                    f"{path.name}, {config.val_split:.0%} held out (seed {config.seed})")


class Indexed(Dataset):
    """A dataset whose items are (input, target, index)."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        x, y = self.base[index]
        return x, y, index


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1,
                weights: torch.Tensor | None = None) -> list[int]:
    """Return this rank's sample order for an epoch (seeded by seed+epoch, padded like DDP); with
    per-sample `weights`, n draws with replacement (class_balance = "sampler")."""
    if weights is not None:
        from engine.train.balance import balanced_order

        order = balanced_order(weights, seed + epoch)
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    if world > 1:
        per_rank = -(-n // world)
        order += order[: per_rank * world - n]
        order = order[rank::world]
    return order


class EpochBatches(Sampler[list[int]]):
    """Batches of one epoch's seeded order; `set_epoch(e, skip)` moves on (and resumes mid-epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 weights: torch.Tensor | None = None) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world = rank, world
        self.epoch, self.skip = 0, 0
        self.weights = weights
        """Per-sample draw weights (class_balance = "sampler"); None: each sample once per epoch."""

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Choose the epoch and how many of its first batches to skip."""
        self.epoch, self.skip = epoch, skip

    def batches(self) -> list[list[int]]:
        """Return every batch of the current epoch, skipped ones included."""
        order = epoch_order(self.n, self.seed, self.epoch, self.rank, self.world, self.weights)
        return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.skip:]

    def __len__(self) -> int:
        per_rank = -(-self.n // self.world)
        return max(0, -(-per_rank // self.batch_size) - self.skip)


def shard(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """Return this rank's share of `indices` (no padding: every sample counted once)."""
    return list(indices[rank::world])
