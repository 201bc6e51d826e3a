"""A finetuned model as it was trained, from a job id, a checkpoint or a recipe: its class
names as labels and the training's own preprocessing (input size, mean/std, interpolation)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import BadInput
from engine.jobs.store import find_job, jobs_root

SPEC = "spec.toml"


def is_trained(ref: str) -> bool:
    """Return True when `ref` names a job, a checkpoint file or a recipe (not a catalog model)."""
    path = Path(ref).expanduser()
    if path.suffix.lower() in (".pt", ".pth", ".toml") and path.is_file():
        return True
    if (path / SPEC).is_file():
        return True
    return re.fullmatch(r"[A-Za-z0-9._-]{1,64}", ref) is not None and \
        (jobs_root() / ref / SPEC).is_file()


def _job_checkpoint(job_dir: Path) -> Path:
    """Return the job's newest checkpoint (what it trained last)."""
    from engine.train.checkpoint import newest_complete

    found = newest_complete(job_dir / "checkpoints")
    if found is None:
        raise BadInput(f"job {job_dir.name} has no checkpoint yet", "it has not trained a step",
                       f"wait for it, or `ptm-tui resume {job_dir.name}`")
    return found[0]


def trained_parts(ref: str) -> tuple[Any, dict[str, Any] | None, dict[str, Any], str]:
    """Return (recipe, checkpoint state or None, preprocessing dict, where) for `ref`."""
    from engine.edit.recipe import Recipe, load
    from engine.train.checkpoint import load_checkpoint

    path = Path(ref).expanduser()
    if path.suffix.lower() == ".toml" and path.is_file():
        recipe = load(path)
        return recipe, None, _recipe_preprocessing(recipe), f"recipe {path}"
    if path.suffix.lower() in (".pt", ".pth") and path.is_file():
        ckpt = path
    else:
        ckpt = _job_checkpoint(find_job(ref))
    state = load_checkpoint(ckpt)
    meaning = state.get("meaning") or {}
    if meaning.get("recipe"):
        recipe = Recipe(model=dict(meaning["recipe"]["model"]),
                        edits=list(meaning["recipe"].get("edit") or []))
        pre = {k: meaning[k] for k in ("resize", "crop", "mean", "std", "interpolation",
                                       "antialias", "input_size") if k in meaning}
    else:  # a checkpoint from before checkpoints carried their meaning: its job's spec
        spec = ckpt.parent.parent / SPEC
        if not spec.is_file():
            raise BadInput(f"{ckpt} does not say which model it belongs to",
                           "it carries no recipe and is not inside a job folder",
                           "pass the job id or keep the checkpoint in its job's checkpoints/")
        recipe = load(spec)
        pre = _recipe_preprocessing(recipe)
    return recipe, state, pre, f"{ckpt}"


def _recipe_preprocessing(recipe: Any) -> dict[str, Any]:
    """Return the preprocessing a recipe's [train] table gives (the weights' own without one)."""
    from engine.train.config import train_config
    from engine.train.data import preprocessing

    return preprocessing(train_config(recipe.train or {})) if recipe.train else {}


def open_trained(ref: str, device: str = "cpu") -> Any:
    """Return a ReadyModel of a job, checkpoint or recipe: trained weights, class names as
    labels, and the training's preprocessing."""
    from engine.edit.recipe import Recipe, build
    from engine.train.data import transform_of
    from engine.use.inference import ready
    from engine.use.preprocess import Preprocess

    recipe, state, pre, where = trained_parts(ref)
    if state is not None:  # the checkpoint holds every weight: build without fetching any
        recipe = Recipe(model={**recipe.model, "weights": "none"}, edits=recipe.edits)
    workbench = build(recipe, device="cpu")
    model = workbench.model
    if state is not None:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as error:
            raise BadInput(f"{where} does not fit its recipe's model",
                           str(error).splitlines()[0][:200],
                           "use the recipe the job was launched with") from None
    model.to(device).eval()
    opened = ready(model, recipe.model["name"], "none", source=where,
                   meta=dict(workbench.meta or {}), device=device)
    classes = (state or {}).get("classes") or _recipe_classes(recipe)
    changes: dict[str, Any] = {}
    if pre:
        size = pre["input_size"][-1]
        changes["preprocess"] = Preprocess(
            resize=pre["resize"][0], crop=pre.get("crop") or size, mean=tuple(pre["mean"]),
            std=tuple(pre["std"]), transform=transform_of(pre),
            source=f"the training's preprocessing ({size} px, {pre['interpolation']})")
    if classes:
        changes.update(categories=list(classes), labels_note=None)
    return dataclasses.replace(opened, **changes)


def _recipe_classes(recipe: Any) -> list[str] | None:
    """Return the class names of a recipe's training data folder, when it has one."""
    from engine.train.config import train_config
    from engine.train.data import class_names

    if not recipe.train or not recipe.train.get("data"):
        return None
    return class_names(train_config(recipe.train))


def open_for_use(model: str, weights: str, device: str,
                 progress: Callable[[int, int | None], None] | None = None) -> Any:
    """Return a ReadyModel for MODEL: a job, checkpoint or recipe as trained, else the catalog's."""
    from engine.use.inference import open_for_inference

    if is_trained(model):
        return open_trained(model, device)
    return open_for_inference(model, weights, device, progress=progress)

