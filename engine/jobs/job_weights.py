"""A job's weights to compare (`ptm-tui diff`, the explorer's compare): its newest checkpoint, or
its start rebuilt from its recipe (a seeded random init comes back exactly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.use.diff import Weights, load_weights, model_buffers

SPEC = "spec.toml"


def is_job_folder(path: Path) -> bool:
    """Return True when `path` is a job folder (it holds the job's spec.toml)."""
    return path.is_dir() and (path / SPEC).is_file()


def job_weights(job_dir: Path) -> Weights:
    """Return the job's newest weights: the checkpoint predict, eval and export use."""
    from engine.jobs.trained import job_checkpoint
    from engine.models.weights.safe_load import read_state_dict

    path = job_checkpoint(job_dir)
    return Weights(read_state_dict(path, mmap=True), str(path))


def job_start(job_dir: Path, progress: Any = None, trust_code: bool = False) -> Weights:
    """Return the weights the job started from: its recipe's model with its edits applied, as
    the runner builds it (the recipe's seed makes a random init the same again). A job folder
    from elsewhere may name code only with `trust_code` (engine.jobs.launch.check_job_code)."""
    from engine.edit.recipe import build, load
    from engine.jobs.launch import check_job_code

    check_job_code(job_dir, trust_code)
    recipe = load(job_dir / SPEC)
    model = build(recipe, device="cpu", progress=progress).model
    name, weights = recipe.model["name"], recipe.model.get("weights", "none")
    seed = recipe.model.get("seed")
    label = f"{job_dir.name} start ({name}@{weights}" + (f", seed {seed})" if seed is not None else ")")
    return Weights(model.state_dict(), label, model_buffers(model))


def weights_of(spec: str, progress: Any = None) -> Weights:
    """Return the weights `spec` names: a job folder's newest checkpoint, else what
    engine.use.diff.load_weights reads (a file, MODEL or MODEL@WEIGHTS)."""
    path = Path(spec).expanduser()
    if is_job_folder(path):
        return job_weights(path)
    return load_weights(spec, progress)
