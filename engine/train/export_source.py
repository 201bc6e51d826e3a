"""What `export` writes: a model by name, a recipe, a finetune checkpoint or a job folder, opened
with the input shape, preprocessing and class names that go into the exported file's metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from engine.errors import BadInput

VALUES_ONLY = ("init", "init_preset", "load_partial")
"""Edits that only set values: a checkpoint's weights replace them, so they are skipped."""


@dataclass
class ExportSource:
    """An open model and what a user of the exported file needs to feed it and read it."""

    model: nn.Module
    name: str
    weights: str
    """Where the weights came from, in words."""
    input_shape: list[int]
    """[1, C, H, W]: channels follow the model's input layer."""
    preprocessing: dict[str, Any]
    class_names: list[str] | None
    weights_note: str | None = None
    """What the weights are when the checkpoint says more (a job's EMA), in words."""

    def metadata(self) -> dict[str, str]:
        """Return the metadata written into the file: text values, JSON where structured."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            producer = f"ptm-tui {version('ptm-tui')}"
        except PackageNotFoundError:
            producer = "ptm-tui"
        data = {"model": self.name, "weights": self.weights, "exported_by": producer,
                "input_shape": json.dumps(["N", *self.input_shape[1:]]),
                "preprocessing": json.dumps(self.preprocessing)}
        if self.class_names is not None:
            data["class_names"] = json.dumps(self.class_names)
        return data


def _input_shape(model: nn.Module, size: tuple[int, ...] | None, side: int | None) -> list[int]:
    """Return [1, C, H, W] from the model's input size, its input conv's channels and `side`."""
    from engine.inspect.heads import find_input_conv

    shape = list(size or (1, 3, 224, 224))
    path = find_input_conv(model)
    channels = getattr(model.get_submodule(path), "in_channels", None) if path else None
    if isinstance(channels, int) and len(shape) >= 3:
        shape[1] = channels
    if side and len(shape) == 4:
        shape[2:] = [side, side]
    return [1, *shape[1:]]


def _preprocessing(workbench: Any, weights: str, channels: int,
                   side: int | None) -> tuple[dict[str, Any], int | None]:
    """Return (the resize/crop/mean/std an image needs before this model, as plain data; the
    input side they give when the loaded weights say it): what its loaded weights say (a
    finetune's), else its weights' own."""
    from engine.use.preprocess import preprocess_for, preprocess_of_meaning

    said = preprocess_of_meaning(getattr(workbench, "meaning", None))
    pre = said or preprocess_for(workbench.name, weights, workbench.meta, workbench.model)
    if pre.square and side is None:
        side = pre.resize
    data: dict[str, Any] = {"kind": pre.kind, "resize": pre.resize, "crop": pre.crop,
                            "mean": list(pre.mean), "std": list(pre.std), "channels": channels,
                            "interpolation": pre.interpolation,
                            "antialias": bool(getattr(pre.transform, "antialias", True)),
                            "source": pre.source}
    if side:  # a finetune's image_size: a square resize, no crop (engine.train.data)
        data.update(resize=[side, side], crop=None, source="the finetune's image_size")
    if channels != len(pre.mean):
        data["note"] = (f"mean/std are for {len(pre.mean)} channels; the model takes {channels} "
                        "(its input layer was adapted)")
    return data, side or (said.input_size if said else None)


def _class_names(workbench: Any, weights: str) -> list[str] | None:
    """Return the model's class names when its weights carry names that fit its head."""
    from engine.use.inference import num_outputs
    from engine.use.preprocess import categories_for

    outputs = num_outputs(workbench.model)
    said = list((getattr(workbench, "meaning", None) or {}).get("classes") or [])
    if said and (outputs is None or len(said) == outputs):
        return [str(name) for name in said]
    return categories_for(workbench.name, weights, workbench.meta, outputs)[0]


def from_workbench(workbench: Any, weights: str, side: int | None = None,
                   classes: list[str] | None = None, source: str | None = None) -> ExportSource:
    """Return the ExportSource of an open Workbench (the TUI's model as it is now)."""
    model = workbench.model.eval()
    channels = _input_shape(model, workbench.input_size, side)[1]
    preprocessing, side = _preprocessing(workbench, weights, channels, side)
    return ExportSource(
        model=model, name=workbench.name, weights=source or workbench.source,
        input_shape=_input_shape(model, workbench.input_size, side), preprocessing=preprocessing,
        class_names=classes if classes is not None else _class_names(workbench, weights))


def _is_checkpoint(path: Path) -> bool:
    """Tell whether `path` looks like a finetune checkpoint (a .pt in a checkpoints folder)."""
    from engine.train.checkpoint import position

    return path.suffix in (".pt", ".pth") and (position(path) is not None
                                                or path.parent.name == "checkpoints")


def open_checkpoint(path: Path, recipe_path: Path | None = None, device: str = "cpu",
                    trust_code: bool = False) -> ExportSource:
    """Return the model of a finetune checkpoint, rebuilt from its job's recipe (spec.toml), which
    may name code only with `trust_code` (a recipe the user passes is theirs)."""
    from engine.edit import recipe as recipes
    from engine.models.trust import check_code_allowed
    from engine.models.weights.meaning import meaning_in
    from engine.models.weights.meaning_check import check_classes, check_side
    from engine.train.checkpoint import load_checkpoint
    from engine.train.tasks.detector_size import use_trained_size

    spec = recipe_path or path.parent.parent / "spec.toml"
    if not spec.is_file():
        raise BadInput(f"cannot tell which model {path.name} belongs to",
                       f"a checkpoint holds weights, not the model's structure, and {spec} is missing",
                       "pass --recipe with the recipe the job was started from")
    recipe = recipes.load(spec)
    if recipe_path is None:
        check_code_allowed(recipe.model["name"], f"the job folder's recipe {spec}", trust_code)
    state = load_checkpoint(path)
    config = state.get("config") if isinstance(state.get("config"), dict) else {}
    size, classes = config.get("image_size"), state.get("classes")  # a file's: checked first
    side = None if size is None else check_side(size, path.name, "config.image_size")
    classes = None if classes is None else check_classes(classes, path.name)
    recipe.model["weights"] = "none"  # the checkpoint brings every value
    recipe.edits = [e for e in recipe.edits if e.get("op") not in VALUES_ONLY]
    workbench = recipes.build(recipe, device=device)
    try:
        workbench.model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        raise BadInput(f"{path.name} does not fit the model of {spec.name}",
                       str(error).splitlines()[0][:300], "pass --recipe with the job's own recipe") from None
    from engine.use.averaged import ema_note

    meaning = meaning_in(state, path.name)
    use_trained_size(workbench.model, meaning)  # a detector's trained size
    note = ema_note(meaning)
    source = f"checkpoint {path} (epoch {state.get('epoch')})" + (f"; {note}" if note else "")
    return replace(from_workbench(workbench, "none", side, classes, source=source), weights_note=note)


def open_source(source: str, weights: str = "default", recipe_path: str | None = None,
                device: str = "cpu", progress: Any = None, trust_code: bool = False) -> ExportSource:
    """Return the model to export: a recipe (.toml), a checkpoint, a job folder or a model name."""
    from engine.edit import recipe as recipes
    from engine.edit.workbench import Workbench

    path = Path(source).expanduser()
    given = Path(recipe_path).expanduser() if recipe_path else None
    if path.is_dir() and (path / "spec.toml").is_file():  # a job folder: its newest checkpoint
        from engine.train.checkpoint import list_checkpoints

        found = list_checkpoints(path / "checkpoints")
        if not found:
            raise BadInput(f"job {path.name} has no checkpoint yet", "nothing has been saved",
                           "wait for its first epoch to finish")
        return open_checkpoint(found[-1], given, device, trust_code)  # its spec.toml by default
    if path.is_file() and path.suffix.lower() == ".toml":
        recipe = recipes.load(path)
        workbench = recipes.build(recipe, device=device, progress=progress)
        return from_workbench(workbench, str(recipe.model.get("weights", "none")))
    if path.is_file() and (given is not None or _is_checkpoint(path)):
        return open_checkpoint(path, given, device, trust_code)
    workbench = Workbench.open(source, weights=weights, device=device, progress=progress)
    return from_workbench(workbench, weights)
