"""The head a model needs for the data the launch form counted: what `H` in the explorer proposes
(each task's check_head refuses the same mismatch before a job exists)."""

from __future__ import annotations

from typing import Any

from torch import nn


def proposed_head(model: nn.Module, classes: int, keypoints: int = 0) -> tuple[dict[str, Any], str] | None:
    """Return (the replace_head edit, why) that fits `model` to data of `classes` classes or COCO
    categories (and `keypoints` keypoints): a detector's first head that does not fit yet, or
    its class head when all fit; None when the count is not known (0)."""
    from engine.errors import PtmError
    from engine.train.tasks import task_name_of

    if classes < 1:
        return None
    try:
        task = task_name_of(model)
    except PtmError:  # video, optical flow: nothing to propose
        return None
    if task in ("classification", "semantic_segmentation"):
        return {"op": "replace_head", "num_classes": classes}, f"the data has {classes} classes"
    from engine.train.tasks.detection import head_needs

    needs = head_needs(model, task, classes, keypoints)
    if not needs:
        return None
    path, _has, want, what = next((need for need in needs if need[1] != need[2]), needs[0])
    edit = {"op": "replace_head", "target": path, "num_classes": want}
    why = (
        f"the data names {keypoints} keypoints"
        if what == "keypoints"
        else f"the data has {classes} categories, + 1 for the background"
    )
    return edit, why
