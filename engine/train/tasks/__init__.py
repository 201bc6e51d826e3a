"""Tasks the finetune loop trains: each says how its data is read and batched, the loss, the
metric and what a prediction looks like, so the loop itself knows no task.

| task | models | data |
| --- | --- | --- |
| classification | classifiers (torchvision, timm, your own) | an ImageFolder |
| detection | Faster R-CNN, RetinaNet, FCOS, SSD | COCO JSON (boxes) |
| instance_segmentation | Mask R-CNN | COCO JSON (boxes + polygons/RLE) |
| keypoints | Keypoint R-CNN | COCO JSON (boxes + keypoints) |
| semantic_segmentation | FCN, DeepLabV3, LRASPP | images/ + masks/ folders |
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.errors import BadInput

if TYPE_CHECKING:
    from torch import nn

    from engine.train.config import TrainConfig
    from engine.train.data import Datasets

TASK_NAMES = ("classification", "detection", "instance_segmentation", "keypoints", "semantic_segmentation")
FINETUNABLE = (
    "image classifiers (an ImageFolder), detection, instance-segmentation and keypoint "
    "models (COCO JSON), semantic segmentation models (images/ + masks/)"
)


class Task:
    """What one kind of model needs from the loop; see classification.py for the simplest."""

    name = ""
    score_name = ""
    """What the record's `val_acc` (the score a best checkpoint is chosen by) measures, in %."""
    data_format = ""
    """The data this task reads, in the user's words (for messages and the launch form)."""
    feature_cache = False
    """Whether head-only epochs may train on cached features (classification only)."""

    def check_data(self, config: TrainConfig) -> dict[str, Any]:
        """Refuse data a job could not train on (BadInput) before the job exists; return what was
        found (images, annotations, categories) as plain data."""
        raise NotImplementedError

    def build_datasets(self, config: TrainConfig, meta: dict[str, Any] | None) -> Datasets:
        """Return the train and validation datasets of config.data."""
        raise NotImplementedError

    def prepare(self, model: nn.Module, config: TrainConfig) -> None:
        """Adjust the model to the config before training (e.g. the detector's input size)."""

    def head(self, model: nn.Module) -> str:
        """Return the module path of the part trained at the head's learning rate."""
        raise NotImplementedError

    def check_head(self, model: nn.Module, found: dict[str, Any]) -> None:
        """Refuse (BadInput) a head whose outputs cannot fit what check_data found (before launch)."""

    def check_model(self, trainer: Any) -> None:
        """Refuse (BadInput) a model whose head cannot predict the data's classes (at the start)."""

    def collate(self) -> Any:
        """Return the DataLoader collate function of (input, target, index) items (None: default)."""
        return None

    def unreadable(self, targets: Any) -> torch.Tensor:
        """Return the batch's targets as a CPU tensor where unreadable images are UNREADABLE."""
        raise NotImplementedError

    def to_device(self, trainer: Any, x: Any, y: Any) -> tuple[Any, Any]:
        """Return the batch moved to the trainer's device."""
        raise NotImplementedError

    def train_step(self, module: nn.Module, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (the loss to back-propagate, a 1-D tensor of per-batch figures to sum)."""
        raise NotImplementedError

    def empty_sums(self) -> list[float]:
        """Return the running sums of a new epoch (the last one counts the samples)."""
        raise NotImplementedError

    def accumulate(self, sums: list[float], loss: float, figures: list[float]) -> float:
        """Add one step's loss and figures to `sums`; return the loss to show for the step."""
        raise NotImplementedError

    def train_record(self, sums: list[float]) -> dict[str, float]:
        """Return the epoch's training metrics (train_loss, ...) from its sums."""
        raise NotImplementedError

    def evaluate(self, trainer: Any) -> dict[str, Any]:
        """Return the validation metrics: `val_loss` (None when the model has none in eval mode),
        `val_acc` (the score, in %) and the task's own figures."""
        raise NotImplementedError


def _torchvision_family(model: nn.Module) -> str:
    module = type(model).__module__
    for part in ("video", "optical_flow", "segmentation", "detection"):
        if module.startswith(f"torchvision.models.{part}"):
            return part
    return ""


def refuse(kind: str, name: str) -> BadInput:
    """Return the error for a model whose task cannot be finetuned here (video, optical flow)."""
    what = "video" if kind == "video" else "optical-flow"
    return BadInput(
        f"{name} is a {what} model, which ptm-tui cannot finetune yet",
        f"finetuning knows {FINETUNABLE}",
        "pick one of those models (ptm-tui models --task detection lists some)",
    )


def task_name_of(model: nn.Module) -> str:
    """Return the task a built model is trained for (raise BadInput for video/optical flow)."""
    family = _torchvision_family(model)
    name = type(model).__name__
    if family in ("video", "optical_flow"):
        raise refuse(family, name)
    if family == "detection":
        if name == "KeypointRCNN":
            return "keypoints"
        return "instance_segmentation" if name == "MaskRCNN" else "detection"
    if family == "segmentation":
        return "semantic_segmentation"
    from engine.inspect.detection import is_detection_model, is_segmentation_model

    if is_detection_model(model):
        return "detection"
    return "semantic_segmentation" if is_segmentation_model(model) else "classification"


def task_name_for(model_name: str) -> str:
    """Return the task of a catalog model name without building it (custom models: classification)."""
    from engine.models.catalog import model_info

    try:
        task = model_info(model_name).task
    except BadInput:
        return "classification"
    if task in ("video", "optical_flow"):
        raise refuse(task, model_name)
    if task == "detection":
        if "keypoint" in model_name:
            return "keypoints"
        return "instance_segmentation" if "maskrcnn" in model_name else "detection"
    return "semantic_segmentation" if task == "segmentation" else "classification"


def get_task(name: str) -> Task:
    """Return the task called `name` (one of TASK_NAMES)."""
    if name == "classification":
        from engine.train.tasks.classification import ClassificationTask

        return ClassificationTask()
    if name == "semantic_segmentation":
        from engine.train.tasks.segmentation import SemanticSegmentationTask

        return SemanticSegmentationTask()
    if name in TASK_NAMES:
        from engine.train.tasks.detection import DetectionTask

        return DetectionTask(name)
    raise BadInput(f"unknown task {name!r}", f"the tasks are {', '.join(TASK_NAMES)}", "use one of those")


def task_for(model: nn.Module) -> Task:
    """Return the task that trains `model`."""
    return get_task(task_name_of(model))


def data_path(config: TrainConfig, what: str = "data") -> Path:
    """Return config.data (or another path key) expanded, or raise BadInput when it is empty."""
    value = getattr(config, what)
    if not value:
        raise BadInput(
            "no training data given",
            f"[train] {what} is empty",
            f'set {what} = "path/to/data" in [train] or pass --data PATH',
        )
    return Path(value).expanduser()
