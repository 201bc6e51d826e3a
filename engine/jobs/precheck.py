"""What a job would fail on later, checked before its folder exists: the head's outputs against
the data's classes (the loop checks it again on the real model when it starts)."""

from __future__ import annotations

from typing import Any

from engine.errors import BadInput


def outputs_per_image(workbench: Any, image_size: int | None) -> int | None:
    """Return how many outputs per image the model gives on meta tensors (None when its output is
    not one row of scores, or it cannot run on meta at that size)."""
    from engine.edit.shapecheck import check_forward
    from engine.errors import PtmError

    size = workbench.input_size
    if image_size and size is not None and len(size) == 4:
        size = (1, size[1], image_size, image_size)
    try:
        found = check_forward(workbench.model, size)
    except PtmError:  # shapes break at that size: the job says so itself
        return None
    shape = found.output_shape
    return shape[1] if found.ok and shape is not None and len(shape) == 2 else None


def check_head_fits_data(recipe: Any, classes: list[str], image_size: int | None = None) -> None:
    """Raise BadInput when the recipe's model (its edits made, on meta) gives a number of outputs
    per image other than the number of class folders, as the job's first check would; models not
    buildable on meta are left to that check."""
    from engine.edit.recipe import check_edits
    from engine.inspect.heads import find_head

    workbench = check_edits(recipe)
    outputs = outputs_per_image(workbench, image_size) if workbench is not None else None
    if outputs is None or outputs == len(classes):
        return
    head = find_head(workbench.model)
    shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
    raise BadInput(
        f"the model{f' (head {head})' if head else ''} gives {outputs} outputs per "
        f"image but the data has {len(classes)} classes ({shown})",
        "a classifier needs one output per class folder; the job would fail when it starts",
        f"give it a {len(classes)}-class head: H in the explorer, or an edit "
        f'op = "replace_head" with num_classes = {len(classes)} in the recipe',
    )
