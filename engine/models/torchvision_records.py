"""torchvision's registry read once: every model and weights entry as plain data, cached on disk.

The scan imports torchvision; its result is kept in memory and in a JSON file keyed by the
torchvision version, so the catalog can answer without importing torch at all.
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA = 2

def _task_of(module: str) -> str:
    """Return the task of a torchvision builder from its module name."""
    for part, task in ((".quantization.", "quantized"), (".detection.", "detection"),
                       (".segmentation.", "segmentation"), (".video.", "video"),
                       (".optical_flow.", "optical_flow")):
        if part in module:
            return task
    return "classification"


def first_size(value: Any) -> int | None:
    """Return an int size from an int or a one/two-element sequence."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else None
    return int(value)


def _weights_record(member: Any) -> dict[str, Any]:
    """Return one torchvision weights enum member's meta as plain data."""
    import inspect

    meta = member.meta
    transforms = member.transforms
    keywords = dict(getattr(transforms, "keywords", {}) or {})
    cls = getattr(transforms, "func", transforms)
    defaults = {}
    with contextlib.suppress(TypeError, ValueError):
        defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()
                    if p.default is not inspect.Parameter.empty}
    mean = keywords.get("mean", defaults.get("mean"))
    std = keywords.get("std", defaults.get("std"))
    metrics: dict[str, float] = {}
    acc1 = acc5 = None
    for dataset, values in (meta.get("_metrics") or {}).items():
        for key, number in values.items():
            metrics[f"{dataset} {key}"] = float(number)
            if key == "acc@1" and acc1 is None:
                acc1 = float(number)
            if key == "acc@5" and acc5 is None:
                acc5 = float(number)
    categories = meta.get("categories")
    return {
        "name": f"{type(member).__name__}.{member.name}", "url": member.url,
        "params": meta.get("num_params"), "acc1": acc1, "acc5": acc5,
        "gflops": meta.get("_ops"), "file_size_mb": meta.get("_file_size"),
        "num_categories": len(categories) if categories else None,
        "categories": list(categories) if categories else None,
        "keypoint_names": list(meta["keypoint_names"]) if meta.get("keypoint_names") else None,
        "crop_size": first_size(keywords.get("crop_size")),
        "resize_size": first_size(keywords.get("resize_size", defaults.get("resize_size"))),
        "mean": list(mean) if mean else None, "std": list(std) if std else None,
        "metrics": metrics,
        "min_size": list(meta["min_size"]) if meta.get("min_size") else None,
        "min_temporal_size": meta.get("min_temporal_size"),
    }


def _scan_torchvision() -> list[dict[str, Any]]:
    """Return every torchvision model with its weights as plain data (imports torchvision)."""
    from torchvision import models

    records = []
    for name in models.list_models():
        builder = models.get_model_builder(name)
        try:
            enum = models.get_model_weights(name)
            members = list(enum)
            default = f"{enum.__name__}.{enum.DEFAULT.name}" if members else None
        except (ValueError, AttributeError):
            members, default = [], None
        records.append({
            "name": name, "task": _task_of(builder.__module__),
            "builder": f"{builder.__module__}:{builder.__name__}",
            "default_weights": default,
            "weights": [_weights_record(member) for member in members],
        })
    return records


def _torchvision_version() -> str:
    """Return the installed torchvision version without importing it."""
    try:
        return metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        import torchvision

        return str(torchvision.__version__)


def catalog_cache_dir() -> Path:
    """Return where the catalog scan is cached ($PTM_CACHE_DIR or $XDG_CACHE_HOME/ptm-tui)."""
    if os.environ.get("PTM_CACHE_DIR"):
        return Path(os.environ["PTM_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "ptm-tui"


@lru_cache(maxsize=4)
def _records(version: str, cache_path: str) -> tuple[dict[str, Any], ...]:
    """Return the torchvision scan, from the disk cache when it matches this version."""
    path = Path(cache_path)
    try:
        data = json.loads(path.read_text())
        if data.get("schema") == SCHEMA and data.get("torchvision") == version:
            return tuple(_expand(data["models"], data["categories"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    records = _scan_torchvision()
    try:
        from engine.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(_compact(records, version)))
    except OSError:
        pass  # a read-only home only costs the next run a rescan
    return tuple(records)


def _compact(records: list[dict[str, Any]], version: str) -> dict[str, Any]:
    """Return the scan with each distinct category list stored once."""
    sets: list[list[str]] = []
    index: dict[tuple[str, ...], int] = {}
    models = []
    for record in records:
        weights = []
        for w in record["weights"]:
            w = dict(w)
            cats = w.pop("categories")
            if cats is not None:
                key = tuple(cats)
                if key not in index:
                    index[key] = len(sets)
                    sets.append(cats)
                w["categories"] = index[key]
            weights.append(w)
        models.append({**record, "weights": weights})
    return {"schema": SCHEMA, "torchvision": version, "categories": sets, "models": models}


def _expand(models: list[dict[str, Any]], sets: list[list[str]]) -> list[dict[str, Any]]:
    """Undo `_compact`: put the category lists back in each weights record."""
    out = []
    for record in models:
        weights = []
        for w in record["weights"]:
            w = dict(w)
            ref = w.get("categories")
            w["categories"] = sets[ref] if isinstance(ref, int) else None
            weights.append(w)
        out.append({**record, "weights": weights})
    return out


def torchvision_records() -> tuple[dict[str, Any], ...]:
    """Return the cached torchvision scan."""
    version = _torchvision_version()
    path = catalog_cache_dir() / f"catalog-torchvision-{version}.json"
    return _records(version, str(path))
