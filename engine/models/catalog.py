"""Which models exist, what their weights are, and how to build one (offline, on any device).

Names: every `torchvision.models.list_models()` name, `timm/<name>` when timm is installed,
`pkg.module:callable` and `path/to/file.py:ClassName`. The torchvision scan is cached in memory
and on disk (keyed by the torchvision version), so `list_models()` can answer without importing
torch at all; whether a weights file is cached is checked afresh on every call.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import BadInput
from engine.models.timm_models import timm_available, timm_missing
from engine.models.timm_pretrained import hub_repo, list_pretrained, tagged_name, weights_fields
from engine.models.torchvision_records import torchvision_records

if TYPE_CHECKING:
    from torch import nn

TASKS = ("classification", "quantized", "detection", "segmentation", "video", "optical_flow",
         "custom")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class WeightsInfo:
    """One pretrained weights variant of a model and its meta."""

    name: str
    """Full enum name, e.g. "ResNet50_Weights.IMAGENET1K_V2"."""
    url: str
    params: int | None = None
    acc1: float | None = None
    acc5: float | None = None
    gflops: float | None = None
    file_size_mb: float | None = None
    num_categories: int | None = None
    categories: list[str] | None = None
    keypoint_names: list[str] | None = None
    """The names of the keypoints a keypoint model's weights predict, in order (COCO's 17)."""
    crop_size: int | None = None
    resize_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None
    """How the resize samples when timm says so (e.g. "bicubic"); None: torchvision's bilinear."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Every reported metric, e.g. {"COCO-val2017 box_map": 37.0}."""
    min_size: tuple[int, int] | None = None
    min_temporal_size: int | None = None
    cached: bool = False

    @property
    def short_name(self) -> str:
        """Return the member name alone, e.g. "IMAGENET1K_V2"."""
        return self.name.rpartition(".")[2]

    def to_dict(self, categories: bool = False) -> dict[str, Any]:
        """Return the weights as plain JSON-ready data (category and keypoint names when asked)."""
        data = dataclasses.asdict(self)
        if not categories:
            data.pop("categories")
            data.pop("keypoint_names")
        return data


@dataclass(frozen=True)
class ModelInfo:
    """A model the catalog knows: its name, task, and pretrained weights."""

    name: str
    task: str
    weights: list[WeightsInfo] = field(default_factory=list)
    default_weights: str | None = None
    builder: str = ""
    """Where it is built, e.g. "torchvision.models.resnet:resnet50"."""

    def weights_named(self, name: str | None) -> WeightsInfo | None:
        """Return the weights with this full or short name, or None."""
        for info in self.weights:
            if name in (info.name, info.short_name):
                return info
        return None

    def to_dict(self, categories: bool = False) -> dict[str, Any]:
        """Return the model as plain JSON-ready data."""
        return {"name": self.name, "task": self.task, "builder": self.builder,
                "default_weights": self.default_weights,
                "weights": [w.to_dict(categories) for w in self.weights]}


def _hub_checkpoints() -> Path:
    """Return torch.hub's checkpoint folder, without importing torch when it is not loaded."""
    if "torch" in sys.modules:
        from engine.models.weights import cache_dir

        return cache_dir()
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def _info(record: dict[str, Any], cached: set[str]) -> ModelInfo:
    """Return a ModelInfo from a scan record, marking weights whose file is in `cached`."""
    weights = []
    for w in record["weights"]:
        w = dict(w)
        for key in ("mean", "std", "min_size"):
            if w.get(key) is not None:
                w[key] = tuple(w[key])
        w["cached"] = os.path.basename(w["url"]) in cached
        weights.append(WeightsInfo(**w))
    return ModelInfo(name=record["name"], task=record["task"], weights=weights,
                     default_weights=record["default_weights"], builder=record["builder"])


def _cached_names() -> set[str]:
    """Return the file names in torch.hub's checkpoint folder."""
    try:
        return {entry.name for entry in os.scandir(_hub_checkpoints()) if entry.is_file()}
    except OSError:
        return set()


def is_user_spec(name: str) -> bool:
    """Return True when `name` names user code (`pkg.mod:callable` or `file.py:Class`)."""
    return ":" in name and not name.startswith("timm/")


def _timm_infos() -> list[ModelInfo]:
    """Return every timm model as `timm/<name>`, then every pretrained `timm/<arch>.<tag>`."""
    if not timm_available():
        return []
    import timm

    from engine.models.weights.hf import cached_repos

    cached = cached_repos()
    archs = [ModelInfo(name=f"timm/{n}", task="classification", builder=f"timm:{n}")
             for n in timm.list_models()]
    return archs + [_timm_info(f"timm/{n}", cached, tags=False) for n in list_pretrained()]


def _timm_info(name: str, cached: set[str] | None = None, tags: bool = True) -> ModelInfo:
    """Return timm model `name` with its pretrained weights on the Hub (all its tags if `tags`)."""
    from engine.models.weights.hf import cached_repos

    cached = cached_repos() if cached is None else cached
    bare = name.removeprefix("timm/")
    chosen = tagged_name(bare)
    arch = chosen.partition(".")[0]
    names = [n for n in list_pretrained() if n.partition(".")[0] == arch] if tags else [chosen]
    weights = []
    for tagged in names if chosen in names else [*names, chosen]:
        repo = hub_repo(tagged)
        if repo:
            fields = weights_fields(tagged)
            weights.append(WeightsInfo(name=tagged, url=f"hf://{repo}", cached=repo in cached,
                                       **fields))
    default = chosen if any(w.name == chosen for w in weights) else None
    return ModelInfo(name=name, task="classification", weights=weights, default_weights=default,
                     builder=f"timm:{bare}")


# --- public API --------------------------------------------------------------------------

def list_models(pattern: str | None = None, task: str | None = None,
                include_timm: bool = False, source: str | None = None) -> list[ModelInfo]:
    """Return every known model (optionally matching a glob, a task and a source: torchvision,
    timm or all), with cached flags fresh."""
    if source not in (None, "torchvision", "timm", "all"):
        raise BadInput(f"unknown source {source!r}", "sources are torchvision, timm and all",
                       "give one of them")
    infos = [] if source == "timm" else [_info(r, _cached_names()) for r in torchvision_records()]
    if include_timm or source in ("timm", "all"):
        infos += _timm_infos()
    if pattern:
        infos = [i for i in infos if fnmatch.fnmatchcase(i.name.lower(), pattern.lower())]
    if task:
        infos = [i for i in infos if i.task == task]
    return infos


def model_names() -> list[str]:
    """Return the names of every torchvision model."""
    return [r["name"] for r in torchvision_records()]


def model_info(name: str) -> ModelInfo:
    """Return what the catalog knows about `name`; BadInput with close matches when unknown."""
    for record in torchvision_records():
        if record["name"] == name:
            return _info(record, _cached_names())
    if name.startswith("timm/"):
        if not timm_available():
            raise timm_missing(name)
        return _timm_info(name)
    if is_user_spec(name):
        return ModelInfo(name=name, task="custom", builder=name)
    raise unknown_model(name)


def unknown_model(name: str) -> BadInput:
    """Return the error for an unknown model name, suggesting the closest names."""
    names = model_names()
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        close = [lowered[name.lower()]]
    else:
        close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
        close += [n for n in names if name.lower() in n and n not in close][: 3 - len(close)]
    why = f"did you mean {_either(close)}?" if close else "no model has a similar name"
    return BadInput(f"unknown model {name!r}", why,
                    "list the models with `ptm-tui models` (timm/<name>, pkg.mod:factory and "
                    "path/to/file.py:Class work too)")


def _either(names: list[str]) -> str:
    """Return names as "a", "a or b", "a, b or c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def resolve_weights(name: str, spec: str | None) -> WeightsInfo | None:
    """Return the weights `spec` names for `name` ("default", "none", an enum name), or None."""
    info = model_info(name)
    if spec is None or spec.lower() in ("none", "random", ""):
        return None
    if spec.lower() in ("default", "pretrained"):
        if info.default_weights is None:
            raise BadInput(f"{name} has no pretrained weights", "the catalog lists none for it",
                           "use --weights none, or give a weights file path or URL")
        return info.weights_named(info.default_weights)
    found = info.weights_named(spec)
    if found is None:
        choices = [w.short_name for w in info.weights]
        close = difflib.get_close_matches(spec.rpartition(".")[2], choices, n=2)
        why = (f"did you mean {_either(close)}?" if close else
               f"its weights are: {', '.join(choices)}" if choices else "it has no weights")
        raise BadInput(f"{name} has no weights {spec!r}", why,
                       "use default, none, one of its weights names, a file path or a URL")
    return found


def weights_enum(name: str, weights: WeightsInfo) -> Any:
    """Return torchvision's enum member for `weights` of model `name`."""
    from torchvision import models

    return models.get_model_weights(name)[weights.short_name]


def build(name: str, device: str = "meta", num_classes: int | None = None,
          weights: WeightsInfo | None = None, **kwargs: Any) -> nn.Module:
    """Return model `name` built offline on `device` (meta: parameters empty, nothing downloaded).

    With `weights`, the architecture is the one those weights need (e.g. inception_v3's
    transform_input, a detection model's frozen batch norms) but no weights are loaded.
    """
    from engine.models import builders

    if name.startswith("timm/"):
        return builders.build_timm(name[5:], device, num_classes, **kwargs)
    if is_user_spec(name):
        return builders.build_user(name, device, num_classes, **kwargs)
    info = model_info(name)
    enum = weights_enum(name, weights) if weights is not None else None
    if enum is None:
        return builders.build_torchvision(info.name, device, None, num_classes, **kwargs)
    served = builders.ServedStateDict()
    served.check = _load_own_tensors  # the builder's post-load steps run, its weights stay
    with builders.serve_weights(served):
        return builders.build_torchvision(info.name, device, enum, num_classes, **kwargs)


def _load_own_tensors(module: nn.Module, state_dict: dict[str, Any]) -> None:
    """Fill `state_dict` with the module's own tensors, so loading it changes nothing."""
    own = module.state_dict(keep_vars=True)
    state_dict.clear()
    state_dict.update(own)
    state_dict._metadata = own._metadata  # type: ignore[attr-defined]
