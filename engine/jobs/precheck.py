"""What a job would fail on later, checked before its folder exists: the head's outputs against
the data's classes (the loop checks it again on the real model when it starts)."""

from __future__ import annotations

from typing import Any

from engine.errors import BadInput


def head_outputs(model: Any) -> tuple[str, int] | None:
    """Return (head path, outputs per image) of a classifier, or None when it has no single head."""
    from engine.inspect.heads import find_head

    path = find_head(model)
    if not path:
        return None
    head = model.get_submodule(path)
    outputs = getattr(head, "out_features", None) or getattr(head, "out_channels", None)
    return (path, int(outputs)) if isinstance(outputs, int) else None


def check_head_fits_data(recipe: Any, classes: list[str]) -> None:
    """Raise BadInput when the recipe's model (its edits made, on meta) has a classifier head whose
    outputs differ from the number of class folders; models not buildable on meta are left to the
    job's own check."""
    from engine.edit.recipe import check_edits

    workbench = check_edits(recipe)
    found = head_outputs(workbench.model) if workbench is not None else None
    if found is None or found[1] == len(classes):
        return
    path, outputs = found
    shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
    raise BadInput(
        f"the model's head ({path}) gives {outputs} outputs but the data has "
        f"{len(classes)} classes ({shown})",
        "a classifier needs one output per class folder; the job would fail when it starts",
        f"give it a {len(classes)}-class head: H in the explorer, or an edit "
        f'op = "replace_head" with num_classes = {len(classes)} in the recipe',
    )
