"""timm's pretrained weights: their tags, their Hub repo, preprocessing and class names (offline)."""

from __future__ import annotations

import math
from typing import Any

from engine.models.timm_models import timm_available


def pretrained_cfg(name: str) -> dict[str, Any] | None:
    """Return timm's pretrained config of `arch.tag` or `arch` (its default tag), or None."""
    if not timm_available():
        return None
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name.removeprefix("timm/"))
    except Exception:  # unknown names raise in some timm versions
        return None
    return cfg.to_dict() if cfg is not None else None


def tagged_name(name: str) -> str:
    """Return `arch.tag` for `timm/arch` or `timm/arch.tag` (the default tag when none is given)."""
    bare = name.removeprefix("timm/")
    cfg = pretrained_cfg(bare)
    if cfg is None or "." in bare or not cfg.get("tag"):
        return bare
    return f"{cfg['architecture']}.{cfg['tag']}"


def hub_repo(name: str) -> str | None:
    """Return the Hugging Face repo of the weights of `name` (e.g. timm/resnet18.a1_in1k), or None."""
    cfg = pretrained_cfg(name)
    return (cfg or {}).get("hf_hub_id") or None


def list_pretrained() -> list[str]:
    """Return every `arch.tag` that timm has pretrained weights for (offline)."""
    if not timm_available():
        return []
    import timm

    return list(timm.list_pretrained())


def weights_fields(name: str, categories: bool = False) -> dict[str, Any]:
    """Return the catalog fields of `name`'s pretrained weights: sizes, mean/std, class names."""
    cfg = pretrained_cfg(name) or {}
    size = cfg.get("input_size") or (3, 224, 224)
    crop = int(size[-1])
    crop_pct = cfg.get("crop_pct") or 0.875
    fields: dict[str, Any] = {
        "crop_size": crop, "resize_size": math.floor(crop / crop_pct),  # as timm
        "mean": tuple(cfg.get("mean") or ()) or None, "std": tuple(cfg.get("std") or ()) or None,
        "num_categories": cfg.get("num_classes"),
        "interpolation": cfg.get("interpolation"),
    }
    if categories:
        fields["categories"] = class_names(cfg)
    return fields


def class_names(cfg: dict[str, Any]) -> list[str] | None:
    """Return the class names timm knows for the weights' label set (ImageNet subsets), or None."""
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(cfg)
        if not subset:
            return None
        names = ImageNetInfo(subset).label_descriptions()
    except Exception:  # timm without the info files, or a label set it does not describe
        return None
    names = [str(n).split(",")[0].strip() for n in names]
    return names if len(names) == cfg.get("num_classes") else None
