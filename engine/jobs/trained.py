"""A finetuned model as it was trained, from a job id, a checkpoint, a saved weights file or a
recipe: its recipe's structure, its weights, its class names as labels and the training's own
preprocessing (input size, mean/std, interpolation)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import BadInput
from engine.jobs.store import find_job, jobs_root

SPEC = "spec.toml"
WEIGHTS_SUFFIXES = (".pt", ".pth", ".safetensors")


def is_trained(ref: str) -> bool:
    """Return True when `ref` names a job, a checkpoint or weights file or a recipe (not a
    catalog model)."""
    path = Path(ref).expanduser()
    if path.suffix.lower() in (*WEIGHTS_SUFFIXES, ".toml") and path.is_file():
        return True
    if (path / SPEC).is_file():
        return True
    return re.fullmatch(r"[A-Za-z0-9._-]{1,64}", ref) is not None and \
        (jobs_root() / ref / SPEC).is_file()


def job_checkpoint(job_dir: Path) -> Path:
    """Return the job's newest checkpoint (what it trained last)."""
    from engine.train.checkpoint import newest_complete

    found = newest_complete(job_dir / "checkpoints")
    if found is None:
        raise BadInput(f"job {job_dir.name} has no checkpoint yet", *_why_no_checkpoint(job_dir))
    return found[0]


def _why_no_checkpoint(job_dir: Path) -> tuple[str, str]:
    """Return (why, fix) for a job without a checkpoint, by its state: a failed job is not
    resumed (there is nothing to resume from), a running one is waited for."""
    from engine.jobs.store import job_info

    info = job_info(job_dir)
    if info.status.startswith("failed"):
        why = f"it failed before saving one: {info.message}" if info.message else \
            "it failed before saving one"
        return why, (f"read its log ({job_dir / 'log.txt'}), fix the cause and launch the "
                     "finetune again")
    if info.status in ("queued", "running"):
        return "it has not finished a step yet", "wait for its first checkpoint"
    return "it has not trained a step", f"`ptm-tui resume {job_dir.name}` trains it"


def trained_workbench(ref: str, device: str = "cpu", trust_code: bool = False) -> Any:
    """Return a Workbench of the model `ref` names, as trained: its recipe's structure with the
    weights file loaded (an undoable load, as `W` does), knowing what its weights mean.

    A recipe `ref` names is the user's own; one read from a weights file or a job folder may
    name code only with `trust_code` (engine.models.trust)."""
    from engine.edit.recipe import build, load

    path = Path(ref).expanduser()
    if path.suffix.lower() == ".toml" and path.is_file():  # a recipe: its own weights
        recipe = load(path)
        workbench = build(recipe, device=device)
        workbench.opened_meaning = _recipe_meaning(recipe)
        return workbench
    weights = path if path.suffix.lower() in WEIGHTS_SUFFIXES and path.is_file() \
        else job_checkpoint(find_job(ref))
    return _load_into_recipe(weights, device, trust_code)


def _load_into_recipe(weights: Path, device: str, trust_code: bool = False) -> Any:
    """Return the recipe's model (built without weights) with every tensor of `weights` loaded."""
    from engine.edit.recipe import Recipe, build
    from engine.models.weights import read_meaning
    from engine.train.export_source import VALUES_ONLY
    from engine.train.tasks.detector_size import use_trained_size

    meaning = read_meaning(weights)
    recipe = _recipe_of(weights, meaning, trust_code)
    bare = Recipe(model={**recipe.model, "weights": "none"}, path=recipe.path,
                  edits=[e for e in recipe.edits if e.get("op") not in VALUES_ONLY])
    workbench = build(bare, device=device)  # the file brings every value
    workbench.apply({"op": "load_partial", "source": str(weights)})
    report = workbench.last_load_report
    if report.missing or report.mismatched or report.unexpected:
        problem = (report.mismatched[0][0] if report.mismatched else
                   (report.missing or report.unexpected)[0])
        raise BadInput(f"{weights} does not fit its recipe's model",
                       f"{report.summary()}; e.g. {problem!r}",
                       "use the recipe the job was launched with")
    if meaning is None:  # a checkpoint from before checkpoints carried their meaning
        workbench.meanings[str(weights)] = _old_checkpoint_meaning(weights, recipe)
    use_trained_size(workbench.model, meaning)  # a detector works at the size it trained at
    return workbench


def _recipe_of(weights: Path, meaning: dict[str, Any] | None, trust_code: bool = False) -> Any:
    """Return the recipe that builds the model of `weights`: the one it carries, else its job's;
    either may name code only with `trust_code`."""
    from engine.edit.recipe import from_dict, load
    from engine.models.trust import check_code_allowed

    if meaning and meaning.get("recipe"):
        said = meaning["recipe"]  # checked by engine.models.weights.meaning_check
        check_code_allowed(said["model"].get("name"), f"the recipe saved in {weights}", trust_code)
        return from_dict({"model": dict(said["model"]), "edit": list(said.get("edit") or [])})
    spec = weights.parent.parent / SPEC
    if not spec.is_file():
        from engine.models.weights import read_checkpoint

        read_checkpoint(weights)  # a file that is not weights at all says so first
        raise BadInput(f"{weights} does not say which model it belongs to",
                       "it carries no recipe and is not inside a job folder",
                       "pass the job id, keep the checkpoint in its job's checkpoints/, or save "
                       "the weights from ptm-tui (ctrl+s), which writes the recipe into the file")
    recipe = load(spec)
    check_code_allowed(recipe.model["name"], f"the job folder's recipe {spec}", trust_code)
    return recipe


def _old_checkpoint_meaning(weights: Path, recipe: Any) -> dict[str, Any]:
    """Return the meaning of a checkpoint written before checkpoints carried one."""
    from engine.models.weights.meaning_check import check_classes
    from engine.train.checkpoint import load_checkpoint

    state = load_checkpoint(weights)
    classes = state.get("classes")
    said = {"classes": check_classes(classes, weights.name)} if classes is not None else {}
    return {**_recipe_meaning(recipe), **said}


def _recipe_meaning(recipe: Any) -> dict[str, Any]:
    """Return what a recipe's [train] table says: its preprocessing and data's class names."""
    from engine.train.config import train_config
    from engine.train.data import class_names, preprocessing

    if not recipe.train:
        return {}
    config = train_config(recipe.train)
    meaning = preprocessing(config)
    from engine.train.tasks import is_task_data

    data = Path(config.data).expanduser()
    if recipe.train.get("data") and not is_task_data(data):  # an ImageFolder's class folders
        meaning["classes"] = class_names(config)
    return meaning


def open_trained(ref: str, device: str = "cpu", trust_code: bool = False) -> Any:
    """Return a ReadyModel of a job, checkpoint, weights file or recipe: trained weights, class
    names as labels, and the training's preprocessing (code only with `trust_code`)."""
    from engine.use.inference import workbench_ready

    workbench = trained_workbench(ref, device="cpu", trust_code=trust_code)
    workbench.model.to(device).eval()
    return workbench_ready(workbench, device)


def open_for_use(model: str, weights: str, device: str,
                 progress: Callable[[int, int | None], None] | None = None,
                 trust_code: bool = False) -> Any:
    """Return a ReadyModel for MODEL: a job, checkpoint or recipe as trained, else the catalog's."""
    from engine.use.inference import open_for_inference

    if is_trained(model):
        return open_trained(model, device, trust_code)
    return open_for_inference(model, weights, device, progress=progress)
