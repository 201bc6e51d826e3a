"""Detection, instance segmentation and keypoints on COCO JSON, trained as torchvision's
references/detection trains them: lists of images and target dicts, the model's own loss dict,
COCO mAP from pycocotools each epoch."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from engine.errors import BadInput
from engine.train.config import TrainConfig
from engine.train.data import UNREADABLE, Datasets, Indexed, loader_worker_init, shard, split_indices
from engine.train.tasks.base import Task, data_path
from engine.train.tasks.coco_data import CocoImages, CocoSet, collate, flip_pairs, read_coco
from engine.train.tasks.coco_metrics import IOU_TYPES, coco_results, coco_scores
from engine.train.tasks.detector_size import size_meaning, train_at

BACKGROUND = "__background__"
SCORES = {
    "detection": ("box mAP", "bbox_map"),
    "instance_segmentation": ("mask mAP", "segm_map"),
    "keypoints": ("keypoint mAP", "kp_map"),
}
WHAT = {
    "detection": "boxes",
    "instance_segmentation": "boxes and polygons or RLE",
    "keypoints": "boxes and keypoints",
}


class DetectionTask(Task):
    """A torchvision detector (R-CNN family, RetinaNet, FCOS, SSD) on COCO JSON."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.score_name, self.score_key = SCORES[name]
        self.data_format = (
            f'COCO JSON with {WHAT[name]} (data = "train.json", val_data or '
            'val_split; images from file_name, relative to the JSON or images = "DIR")'
        )
        self.loss_names: list[str] = []

    # --- data ---------------------------------------------------------------------------------

    def _read(self, config: TrainConfig) -> tuple[CocoSet, CocoSet | None]:
        path = data_path(config)
        if path.is_dir():
            raise BadInput(
                f"{path} is a folder, but a {self.name.replace('_', ' ')} model reads COCO JSON",
                f"this task needs {self.data_format}",
                'set data = "path/to/train.json" (an ImageFolder trains a classifier)',
            )
        train = read_coco(path, self.name, config.images or None, config.max_bad_images)
        if not config.val_data:
            if config.val_split <= 0:
                raise BadInput(
                    f"{path} has no validation set and val_split is 0",
                    "a validation set is needed to report mAP",
                    'set val_data = "val.json" or val_split = 0.2',
                )
            return train, None
        val = read_coco(
            data_path(config, "val_data"), self.name, config.images or None, config.max_bad_images
        )
        unknown = sorted(set(val.label_of) - set(train.label_of))
        if unknown:
            raise BadInput(
                f"{val.path} has category ids that {train.path.name} lacks: "
                f"{', '.join(map(str, unknown[:5]))}",
                "the model can only predict categories it was trained on",
                "use the same categories list in both files",
            )
        val.categories = train.categories
        return train, val

    def check_data(self, config: TrainConfig) -> dict[str, Any]:
        """Read and check the COCO files; return images, annotations and categories found."""
        train, val = self._read(config)
        found = {
            "format": "COCO JSON",
            "task": self.name,
            "images": len(train.images),
            "annotations": train.annotation_count(),
            "categories": train.names,
            "skipped": train.skipped_count + (val.skipped_count if val else 0),
        }
        if train.keypoint_names:
            found["keypoints"] = train.keypoint_names
            self._pairs(config, train)
        if val is not None:
            found["val_images"] = len(val.images)
        return found

    def build_datasets(self, config: TrainConfig, meta: dict[str, Any] | None, channels: int = 3) -> Datasets:
        """Return the train and validation images of the COCO file(s)."""
        train, val = self._read(config)
        pairs = self._pairs(config, train)
        flip = "flip" in config.augment
        ids = [im["id"] for im in train.images]
        if val is None:
            train_idx, val_idx = split_indices(len(ids), config.val_split, config.seed)
            train_ids, val_ids, val = [ids[i] for i in train_idx], [ids[i] for i in val_idx], train
            layout = f"{train.path.name}, {config.val_split:.0%} held out (seed {config.seed})"
        else:
            train_ids, val_ids = ids, [im["id"] for im in val.images]
            layout = f"{train.path.name} and {val.path.name}"
        if train.skipped_count:
            layout += f"; {train.skipped_count} bad entries skipped ({train.skipped[0]})"
        meaning = {
            "task": self.name,
            "kind": "detection",
            "category_ids": [int(c["id"]) for c in train.categories],
            "classes": [BACKGROUND, *train.names],
        }  # label i names classes[i], as torchvision's
        if train.keypoint_names:
            meaning["keypoint_names"] = train.keypoint_names
        return Datasets(
            CocoImages(train, train_ids, self.name, flip, pairs),
            CocoImages(val, val_ids, self.name),
            train.names,
            layout,
            meaning,
        )

    def _pairs(self, config: TrainConfig, coco: CocoSet) -> list[int] | None:
        """Return each keypoint's mirror index: the recipe's flip_pairs, else from the names."""
        names = coco.keypoint_names
        if not names:
            return None
        if not config.flip_pairs:
            return flip_pairs(names)
        order = list(range(len(names)))
        for pair in config.flip_pairs:
            a, _, b = pair.partition(":")
            if a not in names or b not in names:
                raise BadInput(
                    f"[train] flip_pairs names {pair!r}, not two of the data's keypoints",
                    f"the keypoints are {', '.join(names)}",
                    'write pairs as "left_eye:right_eye"',
                )
            order[names.index(a)], order[names.index(b)] = names.index(b), names.index(a)
        return order

    # --- model --------------------------------------------------------------------------------

    def prepare(self, model: nn.Module, config: TrainConfig) -> None:
        """Train at image_size: it becomes the model transform's min_size (max_size in proportion)."""
        if config.image_size:
            train_at(model, config.image_size)

    def model_meaning(self, model: nn.Module) -> dict[str, Any]:
        """The size the detector trains at (its transform's min_size/max_size)."""
        return size_meaning(model)

    def head(self, model: nn.Module) -> str:
        """The R-CNN heads (roi_heads) or the dense head (head)."""
        from engine.inspect.detection import has_module

        return next((p for p in ("roi_heads", "head") if has_module(model, p)), "")

    def check_head(self, model: nn.Module, found: dict[str, Any]) -> None:
        """Refuse a head whose outputs do not fit the data (background counted: categories + 1)."""
        from engine.inspect.detection import BOX_PREDICTOR, detection_head

        categories, keypoints = len(found["categories"]), len(found.get("keypoints") or [])
        for path, has, want, what in head_needs(model, self.name, categories, keypoints):
            if has == want:
                continue
            why = (
                (
                    f"the data has {categories} categories; torchvision's detection heads "
                    "count the background too (categories + 1)"
                )
                if what == "classes"
                else f"the data names {keypoints} keypoints per object"
            )
            target = "" if path in (BOX_PREDICTOR, detection_head(model)) else f'target = "{path}", '
            raise BadInput(
                f"the head {path} predicts {has} {what} but the data needs {want}",
                why,
                f"add a replace_head edit ({target}num_classes = {want}); H in the explorer",
            )

    def check_model(self, trainer: Any) -> None:
        """Check the heads against the data's categories and keypoints."""
        self.check_head(
            trainer.model,
            {
                "categories": trainer.datasets.classes,
                "keypoints": trainer.datasets.meaning.get("keypoint_names"),
            },
        )

    # --- steps --------------------------------------------------------------------------------

    def collate(self) -> Any:
        """Lists of images and target dicts (images differ in size)."""
        return collate

    def unreadable(self, targets: Any) -> torch.Tensor:
        """UNREADABLE where an image could not be read, 0 elsewhere."""
        return torch.tensor([UNREADABLE if t.get("unreadable") else 0 for t in targets])

    def to_device(self, trainer: Any, x: Any, y: Any) -> tuple[Any, Any]:
        """Move each image and each target's tensors to the device."""
        device = trainer.device
        images = [image.to(device, non_blocking=True) for image in x]
        targets = [
            {k: v.to(device, non_blocking=True) for k, v in t.items() if isinstance(v, torch.Tensor)}
            for t in y
        ]
        return images, targets

    def train_step(self, module: nn.Module, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's own losses (its loss dict), summed; each term is a figure."""
        losses = module(x, y)
        self.loss_names = sorted(losses)
        total = sum(losses[name].float() for name in self.loss_names)
        terms = [losses[name].detach().float() for name in self.loss_names]
        return total, torch.stack([*terms, torch.tensor(float(len(x)), device=total.device)])

    def empty_sums(self) -> list[float]:
        """loss sum, images, then each loss term's sum."""
        return [0.0, 0.0]

    def accumulate(self, sums: list[float], loss: float, figures: list[float]) -> float:
        """Add the step's losses weighted by its images."""
        *terms, seen = figures
        sums.extend([0.0] * (2 + len(terms) - len(sums)))
        sums[0] += loss * seen
        sums[1] += seen
        for i, term in enumerate(terms):
            sums[2 + i] += term * seen
        return loss

    def train_record(self, sums: list[float]) -> dict[str, float]:
        """The epoch's mean loss and each loss term (train_loss_classifier, ...)."""
        seen = max(1.0, sums[1])
        record = {"train_loss": sums[0] / seen}
        names = self.loss_names or [f"loss_{i}" for i in range(len(sums) - 2)]
        for name, value in zip(names, sums[2:]):
            record[f"train_{name}"] = value / seen
        return record

    def evaluate(self, trainer: Any) -> dict[str, Any]:
        """COCO mAP/AP50/AP75 of the validation images (boxes; masks, keypoints when predicted)."""
        val = trainer.datasets.val
        subset = Subset(val, shard(range(len(val)), trainer.dist.rank, trainer.dist.world))
        results = predict_results(
            trainer.model, subset, trainer.device, trainer.config, trainer._autocast, on_bad=trainer._note_bad
        )
        if trainer.dist.enabled:
            import torch.distributed as td

            parts: list[Any] = [None] * trainer.dist.world
            td.all_gather_object(parts, results)
            results = [r for part in parts for r in part]
        scores = coco_scores(val.coco.ground_truth(val.image_ids()), results, IOU_TYPES[self.name])
        return {
            "val_loss": None,
            "val_acc": 100.0 * scores[self.score_key],
            **{f"val_{k}": v for k, v in scores.items()},
        }


@torch.no_grad()
def predict_results(
    model: nn.Module,
    dataset: Any,
    device: torch.device,
    config: TrainConfig,
    autocast: Any,
    on_bad: Any = None,
) -> list[dict[str, Any]]:
    """Return the COCO results of `model` over `dataset` (a CocoImages or a Subset of one)."""
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    category_of = [0] + [int(c["id"]) for c in base.coco.categories]
    workers = config.resolved_workers()
    loader = DataLoader(
        Indexed(dataset),
        batch_size=config.batch_size,
        collate_fn=collate,
        num_workers=workers,
        worker_init_fn=loader_worker_init if workers else None,
    )
    model.eval()
    results: list[dict[str, Any]] = []
    for images, targets, index in loader:
        marks = torch.tensor([UNREADABLE if t.get("unreadable") else 0 for t in targets])
        if on_bad is not None:
            on_bad(dataset, marks, index)
        with autocast():
            outputs = model([image.to(device) for image in images])
        ids = [t["image_id"] for t in targets]
        keep = [i for i, t in enumerate(targets) if not t.get("unreadable")]
        results += coco_results([outputs[i] for i in keep], [ids[i] for i in keep], category_of)
    return results


def head_needs(
    model: nn.Module, task: str, categories: int, keypoints: int = 0
) -> list[tuple[str, int, int, str]]:
    """Return (head path, outputs it has, outputs the data needs, "classes" or "keypoints") for each
    head of a detector: the class heads count the background (categories + 1), a keypoint
    predictor counts keypoints."""
    from engine.inspect.detection import (
        KEYPOINT_PREDICTOR,
        MASK_PREDICTOR,
        detection_head,
        head_kind,
        head_outputs,
    )

    box = detection_head(model)
    wants = [(box, categories + 1, "classes")]
    if head_kind(model, MASK_PREDICTOR):
        wants.append((MASK_PREDICTOR, categories + 1, "classes"))
    if task == "keypoints" and head_kind(model, KEYPOINT_PREDICTOR):
        wants.append((KEYPOINT_PREDICTOR, keypoints, "keypoints"))
    return [(path, head_outputs(model, path), want, what) for path, want, what in wants if path is not None]
