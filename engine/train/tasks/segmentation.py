"""Semantic segmentation (FCN, DeepLabV3, LRASPP) on images/ + masks/ folders, trained and scored
as torchvision's references/segmentation does: cross-entropy ignoring 255 (plus 0.5 x the aux
loss), mean IoU and pixel accuracy from a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from engine.errors import BadInput
from engine.train.config import TrainConfig
from engine.train.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    UNREADABLE,
    VAL_NAMES,
    Datasets,
    Indexed,
    loader_worker_init,
    open_image,
    shard,
    split_indices,
)
from engine.train.dist import all_sum
from engine.train.tasks.base import Task, data_path

IGNORE = 255
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LAYOUT = "a folder with images/ and masks/ (same file stems; masks are PNGs of class indices, 255 = ignore)"


def mask_pairs(folder: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Return (image, mask) path pairs under folder/images and folder/masks, and the unpaired."""
    masks = {p.stem: p for p in (folder / "masks").iterdir() if p.suffix.lower() == ".png"}
    pairs, unpaired = [], []
    for image in sorted((folder / "images").iterdir()):
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        mask = masks.get(image.stem)
        if mask is None:
            unpaired.append(f"{image.name}: no masks/{image.stem}.png")
        else:
            pairs.append((str(image), str(mask)))
    return pairs, unpaired


def read_mask(path: str) -> torch.Tensor:
    """Return a mask PNG (class indices, or a palette PNG's indices) as an HxW int64 tensor."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("P", "L", "I", "I;16"):
            raise BadInput(
                f"{path} is a {image.mode} image, not class indices",
                "a mask holds one class index per pixel (a grey or palette PNG)",
                "save masks as index PNGs (mode L or P), 255 where pixels are ignored",
            )
        return torch.from_numpy(np.array(image, dtype=np.int64))


def _class_names(root: Path, pairs: list[tuple[str, str]]) -> list[str]:
    """Return the names in classes.txt, else class_0..class_N for the largest index the masks use."""
    for place in (root / "classes.txt", root / "train" / "classes.txt"):
        if place.is_file():
            names = [line.strip() for line in place.read_text().splitlines() if line.strip()]
            if names:
                return names
    top = 0
    for _, mask_path in pairs:
        mask = read_mask(mask_path)
        top = max(top, int(mask[mask != IGNORE].max())) if bool((mask != IGNORE).any()) else top
    return [f"class_{i}" for i in range(top + 1)]


class MaskFolder(Dataset):
    """(image, mask) pairs resized to size x size; unreadable images come back masked UNREADABLE."""

    def __init__(
        self,
        pairs: list[tuple[str, str]],
        size: int,
        flip: bool = False,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        self.pairs, self.size, self.flip = pairs, size, flip
        self.mean, self.std = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
        self.samples = [(image, 0) for image, _ in pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (normalised image, mask of class indices) at size x size."""
        from torchvision.transforms.functional import pil_to_tensor

        image_path, mask_path = self.pairs[index]
        size = [self.size, self.size]
        try:
            image = pil_to_tensor(open_image(image_path)).float() / 255.0
            mask = read_mask(mask_path)
        except Exception:  # truncated, empty, not an image: skipped and counted
            return torch.zeros(3, *size), torch.full(size, UNREADABLE, dtype=torch.int64)
        image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
        mask = F.interpolate(mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
        if self.flip and torch.rand(()) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return (image - self.mean) / self.std, mask


def confusion_matrix(truth: torch.Tensor, predicted: torch.Tensor, classes: int) -> torch.Tensor:
    """Return the classes x classes matrix (rows: truth) of the pixels whose truth is a class."""
    keep = (truth >= 0) & (truth < classes)
    index = classes * truth[keep].long() + predicted[keep].long()
    return torch.bincount(index, minlength=classes**2).reshape(classes, classes)


def miou_scores(matrix: torch.Tensor) -> dict[str, Any]:
    """Return pixel accuracy, mean IoU (both 0-1) and each class's IoU, as references/segmentation;
    classes absent from both truth and prediction are left out of the mean (None)."""
    h = matrix.double()
    diag = h.diag()
    union = h.sum(1) + h.sum(0) - diag
    iou = diag / union
    return {
        "pixel_acc": float(diag.sum() / h.sum().clamp(min=1)),
        "miou": float(iou.nanmean()) if bool((union > 0).any()) else 0.0,
        "iou": [None if v != v else float(v) for v in iou.tolist()],
    }


def seg_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of `out` ignoring 255, plus 0.5 x that of `aux` when the model has one."""
    loss = F.cross_entropy(outputs["out"].float(), target, ignore_index=IGNORE)
    if "aux" in outputs:
        loss = loss + 0.5 * F.cross_entropy(outputs["aux"].float(), target, ignore_index=IGNORE)
    return loss


class SemanticSegmentationTask(Task):
    """A class per pixel: images/ + masks/, cross-entropy, mean IoU."""

    name = "semantic_segmentation"
    score_name = "mean IoU"
    data_format = LAYOUT + "; train/ and val/ inside, or val_split; names from classes.txt"

    def _split(self, config: TrainConfig) -> tuple[Path, list, list, str]:
        root = data_path(config)
        if not root.is_dir():
            raise BadInput(
                f"{root} is not a folder, but a segmentation model reads {LAYOUT}",
                f"this task needs {self.data_format}",
                "point data at that folder",
            )
        val_dir = next((root / n for n in VAL_NAMES if (root / n / "images").is_dir()), None)
        if (root / "train" / "images").is_dir() and val_dir is not None:
            train, bad = self._folder(root / "train")
            val, bad_val = self._folder(val_dir)
            return root, train, val, f"train/ and {val_dir.name}/" + self._skips(bad + bad_val)
        pairs, bad = self._folder(root)
        if config.val_split <= 0:
            raise BadInput(
                f"{root} has no val/ folder and val_split is 0",
                "a validation set is needed to report mean IoU",
                "add val/images and val/masks or set val_split = 0.2",
            )
        train_idx, val_idx = split_indices(len(pairs), config.val_split, config.seed)
        layout = f"one folder, {config.val_split:.0%} held out (seed {config.seed})"
        return root, [pairs[i] for i in train_idx], [pairs[i] for i in val_idx], layout + self._skips(bad)

    def _skips(self, bad: list[str]) -> str:
        return f"; {len(bad)} images without a mask skipped ({bad[0]})" if bad else ""

    def _folder(self, folder: Path) -> tuple[list[tuple[str, str]], list[str]]:
        if not (folder / "images").is_dir() or not (folder / "masks").is_dir():
            raise BadInput(
                f"{folder} has no images/ and masks/ folders",
                f"a segmentation model reads {LAYOUT}",
                "put the images in images/ and their masks in masks/",
            )
        pairs, bad = mask_pairs(folder)
        if not pairs:
            raise BadInput(
                f"{folder}: no image has a mask",
                "; ".join(bad[:3]) or "images/ is empty",
                "give each image a mask PNG with the same stem in masks/",
            )
        if len(bad) > max(10, len(pairs) // 100):
            raise BadInput(
                f"{folder}: {len(bad)} images have no mask",
                "; ".join(bad[:3]),
                "add their masks or remove them",
            )
        return pairs, bad

    def check_data(self, config: TrainConfig) -> dict[str, Any]:
        """Check the folders and every mask's class indices; return images and classes found."""
        root, train, val, layout = self._split(config)
        classes = _class_names(root, train)
        for _, mask_path in train + val:
            values = read_mask(mask_path).unique()
            wrong = values[(values >= len(classes)) & (values != IGNORE)]
            if len(wrong):
                raise BadInput(
                    f"{mask_path} holds class index {int(wrong[0])} but there are {len(classes)} classes",
                    "a mask pixel is a class index or 255",
                    "fix the mask or list every class in classes.txt",
                )
        return {
            "format": "images/ + masks/",
            "task": self.name,
            "images": len(train),
            "val_images": len(val),
            "categories": classes,
            "layout": layout,
        }

    def build_datasets(self, config: TrainConfig, meta: dict[str, Any] | None, channels: int = 3) -> Datasets:
        """Return the train and validation (image, mask) datasets."""
        root, train, val, layout = self._split(config)
        size = config.image_size or int((meta or {}).get("resize_size") or 520)
        mean = tuple((meta or {}).get("mean") or IMAGENET_MEAN)
        std = tuple((meta or {}).get("std") or IMAGENET_STD)
        return Datasets(
            MaskFolder(train, size, "flip" in config.augment, mean, std),
            MaskFolder(val, size, False, mean, std),
            _class_names(root, train),
            layout,
            {"task": self.name, "kind": "segmentation"},
        )

    def head(self, model: nn.Module) -> str:
        """The classifier (and its aux classifier counts as the backbone's)."""
        return "classifier"

    def check_head(self, model: nn.Module, found: dict[str, Any]) -> None:
        """Refuse a classifier whose outputs differ from the number of classes."""
        from engine.inspect.detection import SEG_CLASSIFIER, head_kind, head_outputs

        if head_kind(model, SEG_CLASSIFIER) is None:
            return
        has, want = head_outputs(model, SEG_CLASSIFIER), len(found["categories"])
        if has != want:
            raise BadInput(
                f"the head classifier predicts {has} classes but the data has {want}",
                "one output per class index (background, index 0, included)",
                f"add a replace_head edit with num_classes = {want}; H in the explorer",
            )

    def check_model(self, trainer: Any) -> None:
        """Check the classifier against the data's classes."""
        self.check_head(trainer.model, {"categories": trainer.datasets.classes})

    def unreadable(self, targets: Any) -> torch.Tensor:
        """UNREADABLE for a sample whose mask is all UNREADABLE."""
        flat = targets.flatten(1)
        return torch.where((flat == UNREADABLE).all(1), UNREADABLE, 0)

    def to_device(self, trainer: Any, x: Any, y: Any) -> tuple[Any, Any]:
        """Move images and masks to the device (unreadable pixels become ignored ones)."""
        return trainer._to(x), y.masked_fill(y == UNREADABLE, IGNORE).to(trainer.device)

    def train_step(self, module: nn.Module, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The references' loss; the figure is the batch size."""
        loss = seg_loss(module(x), y)
        return loss, torch.tensor([float(len(x))], device=loss.device)

    def empty_sums(self) -> list[float]:
        """loss sum, images."""
        return [0.0, 0.0]

    def accumulate(self, sums: list[float], loss: float, figures: list[float]) -> float:
        """Add the step's loss weighted by its images."""
        sums[0] += loss * figures[0]
        sums[1] += figures[0]
        return loss

    def train_record(self, sums: list[float]) -> dict[str, float]:
        """The epoch's mean loss."""
        return {"train_loss": sums[0] / max(1.0, sums[1])}

    @torch.no_grad()
    def evaluate(self, trainer: Any) -> dict[str, Any]:
        """Validation loss, mean IoU and pixel accuracy over the validation images."""
        val = trainer.datasets.val
        subset = Subset(val, shard(range(len(val)), trainer.dist.rank, trainer.dist.world))
        classes = len(trainer.datasets.classes)
        matrix = torch.zeros(classes, classes, dtype=torch.int64)
        sums = [0.0, 0.0]
        for x, y, masks_out in predict_masks(
            trainer.model, subset, trainer.device, trainer.config, trainer._autocast, trainer._note_bad
        ):
            matrix += confusion_matrix(y, masks_out["pred"], classes)
            sums[0] += masks_out["loss"] * len(x)
            sums[1] += len(x)
        if trainer.dist.enabled:
            matrix = (
                torch.tensor(
                    all_sum(matrix.flatten().tolist(), trainer.device, trainer.dist), dtype=torch.float64
                )
                .long()
                .reshape(classes, classes)
            )
            sums = all_sum(sums, trainer.device, trainer.dist)
        scores = miou_scores(matrix)
        return {
            "val_loss": sums[0] / max(1.0, sums[1]),
            "val_acc": 100.0 * scores["miou"],
            "val_miou": scores["miou"],
            "val_pixel_acc": scores["pixel_acc"],
            "val_iou": scores["iou"],
        }


@torch.no_grad()
def predict_masks(
    model: nn.Module,
    dataset: Any,
    device: torch.device,
    config: TrainConfig,
    autocast: Any,
    on_bad: Any = None,
) -> Any:
    """Yield (images, truth masks, {"pred": predicted masks, "loss": batch loss}) over `dataset`."""
    workers = config.resolved_workers()
    loader = DataLoader(
        Indexed(dataset),
        batch_size=config.batch_size,
        num_workers=workers,
        worker_init_fn=loader_worker_init if workers else None,
    )
    model.eval()
    for x, y, index in loader:
        flat = y.flatten(1)
        if on_bad is not None:
            on_bad(dataset, torch.where((flat == UNREADABLE).all(1), UNREADABLE, 0), index)
        y = y.masked_fill(y == UNREADABLE, IGNORE)
        with autocast():
            outputs = model(x.to(device))
        loss = (
            float(F.cross_entropy(outputs["out"].float(), y.to(device), ignore_index=IGNORE))
            if bool((y != IGNORE).any())
            else 0.0
        )
        yield x, y, {"pred": outputs["out"].argmax(1).cpu(), "loss": loss}
