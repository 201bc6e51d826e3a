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

from typing import TYPE_CHECKING

from engine.errors import BadInput
from engine.train.tasks.base import Task, data_path, is_task_data

__all__ = ["Task", "data_path", "get_task", "is_task_data", "task_for", "task_name_for", "task_name_of"]

if TYPE_CHECKING:
    from torch import nn

TASK_NAMES = ("classification", "detection", "instance_segmentation", "keypoints", "semantic_segmentation")
FINETUNABLE = (
    "image classifiers (an ImageFolder), detection, instance-segmentation and keypoint "
    "models (COCO JSON), semantic segmentation models (images/ + masks/)"
)


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
