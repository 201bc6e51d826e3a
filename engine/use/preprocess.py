"""What the weights expect and mean: their preprocessing (resize, crop, mean/std) and label names."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.models.torchvision_records import first_size

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def no_weights(spec: str | None) -> bool:
    """Return True when `spec` asks for no pretrained weights (none, random or empty)."""
    return spec is None or str(spec).lower() in ("", "none", "random")


def weights_enum(name: str, spec: str | None = "default") -> Any | None:
    """Return the torchvision weights enum member meant by `spec` for model `name`, or None.

    "default" gives the model's default weights; "none", a file path or a URL give None.
    """
    if no_weights(spec):
        return None
    import torchvision.models as tvm

    text = str(spec)
    if "/" in text or os.sep in text or text.endswith((".pth", ".pt", ".safetensors", ".bin")):
        return None
    try:
        enum = tvm.get_model_weights(name)
    except (ValueError, KeyError, AttributeError):
        enum = None
    if text.lower() == "default":
        return getattr(enum, "DEFAULT", None) if enum is not None else None
    member = text.split(".", 1)[1] if "." in text else text
    if enum is not None and member in enum.__members__:
        return enum[member]
    try:
        return tvm.get_weight(text)
    except (ValueError, KeyError, AttributeError):
        return None


def default_weights_enum(name: str) -> Any | None:
    """Return the default torchvision weights of `name` (for their transforms and categories)."""
    return weights_enum(name, "default")


@dataclass
class Preprocess:
    """How an image becomes the model's input: resize, centre crop, mean/std (or none of it)."""

    kind: str = "classification"
    """classification, detection (no resize, no normalisation) or segmentation (resize, no crop)."""
    resize: int | None = 256
    crop: int | None = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    source: str = "default ImageNet preprocessing"
    interpolation: str = "bilinear"
    """How the resize samples: bilinear (torchvision's), bicubic (many timm weights)..."""
    square: bool = False
    """Resize to `resize` x `resize` with no crop (a finetune's image_size), not the shorter side."""
    transform: Callable[[Any], torch.Tensor] | None = field(default=None, repr=False)
    channels: int = 3
    """The channels the model takes: images are converted to them last (engine.use.channels)."""

    def __call__(self, image: Any) -> torch.Tensor:
        """Return the image as a (C, H, W) float tensor ready for the model."""
        from engine.use.channels import match_channels

        return match_channels(self._three_channels(image), self.channels)

    def _three_channels(self, image: Any) -> torch.Tensor:
        """Return the image resized, cropped and normalised as the weights expect it."""
        import torchvision.transforms.functional as F

        if self.transform is not None:
            return self.transform(image)
        tensor = F.pil_to_tensor(image) if not isinstance(image, torch.Tensor) else image
        tensor = F.convert_image_dtype(tensor, torch.float)
        if self.kind == "detection":
            return tensor
        if self.resize:
            size = [self.resize, self.resize] if self.square else [self.resize]
            tensor = F.resize(tensor, size, interpolation=self._mode(), antialias=True)
        if self.crop and self.kind == "classification" and not self.square:
            tensor = F.center_crop(tensor, [self.crop])
        return F.normalize(tensor, list(self.mean), list(self.std))

    def _mode(self) -> Any:
        """Return torchvision's InterpolationMode for `interpolation` (bilinear when unknown)."""
        from torchvision.transforms import InterpolationMode

        try:
            return InterpolationMode(self.interpolation)
        except ValueError:
            return InterpolationMode.BILINEAR

    def resized(self, image: Any, size: int) -> torch.Tensor:
        """Return the image resized to `size`x`size` (no crop) and normalised like `self`."""
        import torchvision.transforms.functional as F

        tensor = F.pil_to_tensor(image) if not isinstance(image, torch.Tensor) else image
        tensor = F.convert_image_dtype(tensor, torch.float)
        tensor = F.resize(tensor, [size, size], interpolation=self._mode(), antialias=True)
        if self.kind == "detection":
            return tensor
        from engine.use.channels import match_channels

        return match_channels(F.normalize(tensor, list(self.mean), list(self.std)), self.channels)

    @property
    def input_size(self) -> int:
        """Return the square side the model sees (the crop, else the resize, else 224)."""
        return (self.resize if self.square else self.crop or self.resize) or 224

    def meaning(self, channels: int = 3) -> dict[str, Any]:
        """Return this preprocessing as the part of a meaning that says how images go in
        (engine.models.weights.meaning)."""
        side = self.input_size
        return {"kind": self.kind,
                "resize": ([side, side] if self.square else [self.resize]) if self.resize else None,
                "crop": None if self.square else self.crop, "input_size": [channels, side, side],
                "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation, "antialias": True}


def preprocess_of_meaning(meaning: dict[str, Any] | None) -> Preprocess | None:
    """Return the preprocessing a weights file's meaning gives (its training's), or None."""
    if not meaning or not meaning.get("resize") or not meaning.get("mean"):
        return None
    resize = [int(v) for v in meaning["resize"]]
    crop = meaning.get("crop")
    mode = str(meaning.get("interpolation") or "bilinear")
    square = len(resize) == 2 and not crop
    said = "the training's preprocessing" if meaning.get("job") else \
        "the preprocessing saved with the weights"
    side = resize[0] if square else crop or resize[0]
    shape = meaning.get("input_size")
    channels = int(shape[0]) if isinstance(shape, list) and shape and isinstance(shape[0], int) \
        else 3
    return Preprocess(kind=str(meaning.get("kind") or "classification"), resize=resize[0],
                      crop=None if square else crop, square=square,
                      mean=tuple(meaning["mean"]), std=tuple(meaning["std"]), interpolation=mode,
                      # a detector resizes and normalises inside (GeneralizedRCNNTransform)
                      transform=None if meaning.get("kind") == "detection" else transform_of(meaning),
                      channels=channels,
                      source=f"{said} ({side} px, {mode})")


def transform_of(pre: dict[str, Any]) -> Callable[[Any], torch.Tensor]:
    """Return the torchvision transform a meaning's resize/crop/mean/std describe: what the
    training's validation images went through (a PIL image is resized as a PIL image)."""
    import torchvision.transforms.functional as F
    from torchvision import transforms as T

    def as_float(image: Any) -> torch.Tensor:
        tensor = image if isinstance(image, torch.Tensor) else F.pil_to_tensor(image)
        return F.convert_image_dtype(tensor, torch.float)

    mode = T.InterpolationMode(pre.get("interpolation") or "bilinear")
    resize = [int(v) for v in pre["resize"]]
    steps: list[Any] = [T.Resize(resize if len(resize) > 1 else resize[0], interpolation=mode,
                                 antialias=pre.get("antialias", True))]
    if pre.get("crop"):
        steps.append(T.CenterCrop(pre["crop"]))
    return T.Compose([*steps, as_float, T.Normalize(pre["mean"], pre["std"])])


def preprocess_from_transforms(transforms: Any, source: str) -> Preprocess:
    """Return a Preprocess wrapping a torchvision weights' transforms() object."""
    kind_by_class = {"ImageClassification": "classification", "ObjectDetection": "detection",
                     "SemanticSegmentation": "segmentation"}
    kind = kind_by_class.get(type(transforms).__name__, "classification")
    return Preprocess(kind=kind, resize=first_size(getattr(transforms, "resize_size", None)),
                      crop=first_size(getattr(transforms, "crop_size", None)),
                      mean=tuple(getattr(transforms, "mean", IMAGENET_MEAN)),
                      std=tuple(getattr(transforms, "std", IMAGENET_STD)),
                      interpolation=str(getattr(getattr(transforms, "interpolation", None), "value",
                                                "bilinear")),
                      source=source, transform=transforms)


def _from_fields(info: Any, source: str) -> Preprocess | None:
    """Return a Preprocess from an object or dict carrying crop_size/resize_size/mean/std."""
    def get(key: str) -> Any:
        return info.get(key) if isinstance(info, dict) else getattr(info, key, None)

    crop, resize = first_size(get("crop_size")), first_size(get("resize_size"))
    if crop is None and resize is None:
        return None
    return Preprocess(resize=resize, crop=crop, mean=tuple(get("mean") or IMAGENET_MEAN),
                      std=tuple(get("std") or IMAGENET_STD), source=source,
                      interpolation=get("interpolation") or "bilinear")


def preprocess_for(name: str, weights: str | None = "default", meta: dict[str, Any] | None = None,
                   model: nn.Module | None = None) -> Preprocess:
    """Return the preprocessing of `name` with `weights`: the weights' transforms when known.

    Without named weights the model's default weights tell the transforms (the architecture
    expects them); else the catalog's resize/crop/mean/std; else resize 256, crop 224, ImageNet
    mean/std (detection models: no resize, no normalisation).
    """
    enum = weights_enum(name, weights) or default_weights_enum(name)
    if enum is not None:
        try:
            return preprocess_from_transforms(enum.transforms(), f"transforms of {enum}")
        except Exception:  # a broken transforms() falls back to the fields below
            pass
    if meta:
        found = _from_fields(meta, "the weights meta")
        if found is not None:
            return found
    try:
        from engine.models.catalog import resolve_weights

        info = resolve_weights(name, weights if not no_weights(weights) else "default")
    except Exception:  # catalog missing or the name is unknown to it
        info = None
    if info is not None:
        found = _from_fields(info, f"the catalog entry of {getattr(info, 'name', name)}")
        if found is not None:
            return found
    if model is not None:
        from engine.inspect.detection import is_detection_model

        if is_detection_model(model):
            return Preprocess(kind="detection", resize=None, crop=None,
                              source="detection default (the model resizes itself)")
    return Preprocess()


def categories_for(name: str, weights: str | None, meta: dict[str, Any] | None,
                   num_outputs: int | None) -> tuple[list[str] | None, str | None]:
    """Return (category names, a note on where they came from or why they are missing).

    Names come from the weights meta; with no pretrained weights, the default weights' names
    are used when their count matches the head (and the note says so).
    """
    cats = list((meta or {}).get("categories") or [])
    if not cats and not no_weights(weights):
        enum = weights_enum(name, weights)
        cats = list(enum.meta.get("categories") or []) if enum is not None else []
    if cats and (num_outputs is None or len(cats) == num_outputs):
        return cats, None
    default = default_weights_enum(name)
    default_cats = list(default.meta.get("categories") or []) if default is not None else []
    if default_cats and (num_outputs is None or len(default_cats) == num_outputs):
        why = "the model has random weights" if no_weights(weights) else \
            "its weights carry no category names"
        return default_cats, (f"labels are the categories of {default} ({why}; its head has "
                              f"the same {len(default_cats)} outputs)")
    why = "its weights carry no category names"
    if cats or default_cats:
        known = len(cats or default_cats)
        why = f"the head has {num_outputs} outputs but there are {known} known names"
    return None, f"labels are class indices: {why}"


def keypoint_names_for(name: str, meta: dict[str, Any] | None, count: int) -> list[str] | None:
    """Return the keypoint names of the weights meta (or default weights) when `count` matches."""
    names = list((meta or {}).get("keypoint_names") or [])
    if not names:
        default = default_weights_enum(name)
        names = list(default.meta.get("keypoint_names") or []) if default is not None else []
    return names if len(names) == count else None
