"""Before a job exists: the task the recipe's model trains, its data, and its head's class count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import BadInput
from engine.train.config import TrainConfig
from engine.train.csv_data import is_csv
from engine.train.recipe_keys import check_task_keys
from engine.train.tasks import get_task, task_name_for, task_name_of


def _near(value: str, base: Path | None) -> str:
    """Return `value` as an absolute path, read relative to the recipe's folder when it is there."""
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None and not path.exists() and (base / path).exists():
        path = base / path
    return str(path.resolve())


def is_user_model(recipe: Any) -> bool:
    """Return True for a model the user names by file or module (path.py:Class, pkg.mod:factory)."""
    from engine.models.catalog import is_user_spec

    return is_user_spec(str(recipe.model["name"]))


def check_job_data(recipe: Any, config: TrainConfig, base: Path | None) -> dict[str, Any]:
    """Resolve config's data paths and check them for the recipe's task; return what was found.

    Raises BadInput for missing data, data of another task's format (a folder for a detector,
    a JSON for a classifier), bad COCO files, and a detection/segmentation head whose class
    count does not fit the data.
    """
    from engine.edit.recipe import check_edits

    name = task_name_for(recipe.model["name"])
    workbench = check_edits(recipe)
    if workbench is not None and name == "classification" and is_user_model(recipe):
        # your own model: its class decides
        name = task_name_of(workbench.model)
    task = get_task(name)
    check_task_keys(task.name, config)
    if workbench is not None and config.layer_decay < 1:
        from engine.train.layer_decay import layer_ids

        layer_ids(workbench.model)  # a model whose layers cannot be numbered is refused here
    if not config.data:
        raise BadInput(
            "no training data given",
            "the recipe has no [train] data",
            'set data = "path/to/images" in [train] or pass --data PATH',
        )
    for key in ("data", "val_data", "images"):
        if getattr(config, key):
            setattr(config, key, _near(getattr(config, key), base))
    data = Path(config.data)
    if task.name == "classification":
        if data.is_file() and data.suffix.lower() == ".json":
            raise BadInput(
                f"{data} is COCO JSON, but {recipe.model['name']} is a classifier",
                f"a classifier reads {task.data_format}",
                "point data at an ImageFolder, or pick a detection model",
            )
        if not data.is_dir() and not is_csv(config.data):
            raise BadInput(
                f"data folder {data} does not exist",
                "[train] data must be a folder",
                "point data at an ImageFolder root (one sub-folder per class)",
            )
    found = task.check_data(config)
    if workbench is not None:
        size = workbench.input_size
        if config.image_size and size is not None and len(size) == 4:
            size = (1, size[1], config.image_size, config.image_size)
        task.check_head(workbench.model, {**found, "input_size": size})
    return found
