"""Predictions with category names: the weights' own preprocessing, top-k, boxes, keypoints."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.catalog import first_size
from engine.errors import BadInput, WorkFailed

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
ImageLike = Any  # a path (str / PathLike) or a PIL.Image.Image


def best_device() -> str:
    """Return the best device available here: "cuda", "mps" or "cpu"."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(spec: str | None, allow_meta: bool = False) -> str:
    """Return the device `spec` names ("auto"/None: the best one here), or raise BadInput.

    "meta" (structure only, no weights) is refused unless `allow_meta`: nothing can run on it.
    """
    if spec is None or str(spec).strip().lower() in ("", "auto"):
        return best_device()
    text = str(spec).strip()
    fix = f"use --device cpu (or auto: {best_device()} on this machine)"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise BadInput(f"unknown device {text!r}", "a device is cpu, cuda, cuda:N, mps or auto",
                       fix) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInput(f"device {text!r} is not available",
                           "torch finds no usable CUDA GPU on this machine", fix)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadInput(f"device {text!r} is not available",
                           f"this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                           f"numbered from 0", fix)
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise BadInput(f"device {text!r} is not available", "this machine has no MPS GPU", fix)
    elif device.type == "meta" and not allow_meta:
        raise BadInput("--device meta holds no weights", "this command needs real numbers", fix)
    elif device.type not in ("cpu", "meta"):
        raise BadInput(f"device {text!r} is not supported", "ptm-tui runs on cpu, cuda or mps", fix)
    return text


def _no_weights(spec: str | None) -> bool:
    return spec is None or str(spec).lower() in ("", "none", "random")


def weights_enum(name: str, spec: str | None = "default") -> Any | None:
    """Return the torchvision weights enum member meant by `spec` for model `name`, or None.

    "default" gives the model's default weights; "none", a file path or a URL give None.
    """
    if _no_weights(spec):
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
    transform: Callable[[Any], torch.Tensor] | None = field(default=None, repr=False)

    def __call__(self, image: Any) -> torch.Tensor:
        """Return the image as a (C, H, W) float tensor ready for the model."""
        import torchvision.transforms.functional as F

        if self.transform is not None:
            return self.transform(image)
        tensor = F.pil_to_tensor(image) if not isinstance(image, torch.Tensor) else image
        tensor = F.convert_image_dtype(tensor, torch.float)
        if self.kind == "detection":
            return tensor
        if self.resize:
            tensor = F.resize(tensor, [self.resize], antialias=True)
        if self.crop and self.kind == "classification":
            tensor = F.center_crop(tensor, [self.crop])
        return F.normalize(tensor, list(self.mean), list(self.std))

    def resized(self, image: Any, size: int) -> torch.Tensor:
        """Return the image resized to `size`x`size` (no crop) and normalised like `self`."""
        import torchvision.transforms.functional as F

        tensor = F.pil_to_tensor(image) if not isinstance(image, torch.Tensor) else image
        tensor = F.convert_image_dtype(tensor, torch.float)
        tensor = F.resize(tensor, [size, size], antialias=True)
        if self.kind == "detection":
            return tensor
        return F.normalize(tensor, list(self.mean), list(self.std))

    @property
    def input_size(self) -> int:
        """Return the square side the model sees (the crop, else the resize, else 224)."""
        return self.crop or self.resize or 224


def preprocess_from_transforms(transforms: Any, source: str) -> Preprocess:
    """Return a Preprocess wrapping a torchvision weights' transforms() object."""
    kind_by_class = {"ImageClassification": "classification", "ObjectDetection": "detection",
                     "SemanticSegmentation": "segmentation"}
    kind = kind_by_class.get(type(transforms).__name__, "classification")
    return Preprocess(kind=kind, resize=first_size(getattr(transforms, "resize_size", None)),
                      crop=first_size(getattr(transforms, "crop_size", None)),
                      mean=tuple(getattr(transforms, "mean", IMAGENET_MEAN)),
                      std=tuple(getattr(transforms, "std", IMAGENET_STD)),
                      source=source, transform=transforms)


def _from_fields(info: Any, source: str) -> Preprocess | None:
    """Return a Preprocess from an object or dict carrying crop_size/resize_size/mean/std."""
    def get(key: str) -> Any:
        return info.get(key) if isinstance(info, dict) else getattr(info, key, None)

    crop, resize = first_size(get("crop_size")), first_size(get("resize_size"))
    if crop is None and resize is None:
        return None
    return Preprocess(resize=resize, crop=crop, mean=tuple(get("mean") or IMAGENET_MEAN),
                      std=tuple(get("std") or IMAGENET_STD), source=source)


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
        from engine.catalog import resolve_weights

        info = resolve_weights(name, weights if not _no_weights(weights) else "default")
    except Exception:  # catalog missing or the name is unknown to it
        info = None
    if info is not None:
        found = _from_fields(info, f"the catalog entry of {getattr(info, 'name', name)}")
        if found is not None:
            return found
    if model is not None:
        from engine.detection import is_detection_model

        if is_detection_model(model):
            return Preprocess(kind="detection", resize=None, crop=None,
                              source="detection default (the model resizes itself)")
    return Preprocess()


# --- labels ----------------------------------------------------------------------------------


def categories_for(name: str, weights: str | None, meta: dict[str, Any] | None,
                   num_outputs: int | None) -> tuple[list[str] | None, str | None]:
    """Return (category names, a note on where they came from or why they are missing).

    Names come from the weights meta; with no pretrained weights, the default weights' names
    are used when their count matches the head (and the note says so).
    """
    cats = list((meta or {}).get("categories") or [])
    if not cats and not _no_weights(weights):
        enum = weights_enum(name, weights)
        cats = list(enum.meta.get("categories") or []) if enum is not None else []
    if cats and (num_outputs is None or len(cats) == num_outputs):
        return cats, None
    default = default_weights_enum(name)
    default_cats = list(default.meta.get("categories") or []) if default is not None else []
    if default_cats and (num_outputs is None or len(default_cats) == num_outputs):
        why = "the model has random weights" if _no_weights(weights) else \
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


def _label(categories: Sequence[str] | None, index: int) -> str:
    if categories is not None and 0 <= index < len(categories):
        return str(categories[index])
    return f"class {index}"


# --- images ----------------------------------------------------------------------------------


def load_image(image: ImageLike) -> tuple[str, Any]:
    """Return (a name for it, the image as an RGB PIL image), or raise BadInput."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        return getattr(image, "filename", "") or "<image>", image.convert("RGB")
    path = Path(image)
    if path.is_dir():
        raise BadInput(f"{path} is a folder, not an image", "each IMAGE must be an image file",
                       f"name the files in it, e.g. {path}/*.png")
    if not path.is_file():
        raise BadInput(f"no image at {path}", "the file does not exist",
                       "check the path (a PNG, JPEG, BMP... file)")
    try:
        with Image.open(path) as opened:
            return str(path), opened.convert("RGB")
    except Image.DecompressionBombError as error:
        raise BadInput(f"refused to open {path}", str(error).split(",")[0],
                       "shrink the image first (e.g. to a few thousand pixels a side)") from None
    except (UnidentifiedImageError, OSError) as error:
        raise BadInput(f"cannot read {path} as an image", str(error),
                       "pass a PNG, JPEG, BMP or other image file") from None


# --- prediction --------------------------------------------------------------------------------


def model_device(model: nn.Module) -> torch.device:
    """Return the device of the model's first parameter or buffer (cpu when it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def image_files(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Return the image files named by paths and folders (folders searched recursively, sorted)."""
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise BadInput(f"no image file or folder {str(item)!r}", "the path does not exist",
                           "give image files or folders that contain images")
    if not files:
        raise BadInput("no images found",
                       f"no {', '.join(IMAGE_SUFFIXES)} files in {', '.join(map(str, items))}",
                       "point at image files or a folder of them")
    return files


def _top(probs: torch.Tensor, categories: Sequence[str] | None, topk: int) -> list[dict[str, Any]]:
    k = max(1, min(topk, probs.numel()))
    values, indices = probs.topk(k)
    return [{"label": _label(categories, int(i)), "index": int(i), "prob": float(v)}
            for v, i in zip(values.tolist(), indices.tolist())]


def _detections(output: dict[str, torch.Tensor], categories: Sequence[str] | None,
                keypoint_names: Sequence[str] | None, topk: int,
                min_score: float) -> list[dict[str, Any]]:
    scores = output["scores"].detach().float().cpu()
    order = scores.argsort(descending=True)
    found = []
    for i in order.tolist():
        score = float(scores[i])
        if score < min_score or len(found) >= topk:
            break
        index = int(output["labels"][i])
        item: dict[str, Any] = {"label": _label(categories, index), "index": index,
                                "score": score,
                                "box": [round(float(v), 2) for v in output["boxes"][i].tolist()]}
        if "keypoints" in output:
            points = output["keypoints"][i].detach().cpu().tolist()
            names = keypoint_names or [f"kp{j}" for j in range(len(points))]
            item["keypoints"] = [{"name": names[j], "x": round(p[0], 2), "y": round(p[1], 2),
                                  "visible": bool(p[2] > 0)} for j, p in enumerate(points)]
        found.append(item)
    return found


def _segments(logits: torch.Tensor, categories: Sequence[str] | None,
              topk: int) -> list[dict[str, Any]]:
    probs = logits.float().softmax(0)
    share = torch.bincount(probs.argmax(0).flatten(), minlength=probs.shape[0]).float()
    share /= share.sum()
    top = _top(probs.mean((1, 2)), categories, topk)
    for item in top:
        item["pixels"] = float(share[item["index"]])
    return top


@torch.no_grad()
def _scores(output: Any) -> torch.Tensor:
    """Return the class-score tensor of a classification/segmentation forward, checked finite."""
    if isinstance(output, dict):
        output = output.get("out", next(iter(output.values())))
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise WorkFailed("the model's output is not a tensor of class scores",
                         f"it returned {type(output).__name__}",
                         "predict works on classification, detection and segmentation models")
    if not torch.isfinite(output).all():
        raise WorkFailed("the model's scores are not finite numbers (NaN or inf)",
                         "its weights hold NaN or inf values, e.g. from a diverged training run",
                         "check them with `ptm-tui inspect MODEL --weights FILE --stats`, "
                         "or use other weights")
    return output


def predict(model: nn.Module, images: Sequence[ImageLike], categories: Sequence[str] | None = None,
            topk: int = 5, preprocess: Preprocess | None = None,
            keypoint_names: Sequence[str] | None = None, min_score: float = 0.0,
            batch_size: int = 16) -> list[dict[str, Any]]:
    """Return one result per image: {image, top: [{label, index, prob}]} sorted by prob.

    Detection models give {image, detections: [{label, index, score, box, keypoints?}]};
    segmentation models give top classes by mean pixel probability (with their pixel share).
    """
    from engine.detection import is_detection_model, is_segmentation_model

    if topk < 1:
        raise BadInput(f"--topk must be at least 1, got {topk}", "there is nothing to show",
                       "pass --topk 5")
    detection = is_detection_model(model)
    segmentation = not detection and is_segmentation_model(model)
    if preprocess is None:
        preprocess = Preprocess()
        if detection:
            preprocess = Preprocess(kind="detection", resize=None, crop=None)
    device = model_device(model)
    was_training = model.training
    model.eval()
    results: list[dict[str, Any]] = []
    try:
        loaded = [load_image(image) for image in images]
        for start in range(0, len(loaded), batch_size):
            chunk = loaded[start:start + batch_size]
            tensors = [preprocess(img).to(device) for _, img in chunk]
            if detection:
                outputs = model(tensors)
                for (name, img), out in zip(chunk, outputs):
                    results.append({"image": name, "size": list(img.size),
                                    "detections": _detections(out, categories, keypoint_names,
                                                              topk, min_score)})
                continue
            same_size = len({tuple(t.shape) for t in tensors}) == 1
            groups = [tensors] if same_size else [[t] for t in tensors]  # e.g. segmentation sizes
            outputs = [row for group in groups for row in _scores(model(torch.stack(group)))]
            for (name, _), logits in zip(chunk, outputs):
                if segmentation or logits.dim() == 3:
                    top = _segments(logits, categories, topk)
                else:
                    top = _top(logits.float().flatten().softmax(0), categories, topk)
                results.append({"image": name, "top": top})
    except RuntimeError as error:
        raise WorkFailed("the forward pass failed", str(error).splitlines()[0],
                         "check that the model takes 3-channel images of this size") from None
    finally:
        model.train(was_training)
    return results


def num_outputs(model: nn.Module) -> int | None:
    """Return how many classes the model's head predicts, when it can be told."""
    from engine.detection import detection_head, head_outputs

    if detection_head(model) is not None:
        return head_outputs(model)
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module.out_features
        elif isinstance(module, nn.Conv2d):
            last = module.out_channels
    return last


# --- opening a model for inference ------------------------------------------------------------


@dataclass
class ReadyModel:
    """A model ready for predictions: the module, its preprocessing, labels and a note on them."""

    model: nn.Module
    name: str
    weights: str
    source: str
    preprocess: Preprocess
    categories: list[str] | None
    labels_note: str | None
    keypoint_names: list[str] | None
    meta: dict[str, Any]
    device: str


def open_for_inference(name: str, weights: str = "default", device: str | None = None,
                       progress: Callable[[int, int | None], None] | None = None) -> ReadyModel:
    """Open `name` with `weights` on `device` (best available by default), in eval mode."""
    from engine.loader import open_model

    device = device or best_device()
    opened = open_model(name, weights=weights, device=device, progress=progress)
    opened.model.eval()
    return ready(opened.model, name, weights, source=opened.source, meta=dict(opened.meta or {}),
                 device=device)


def ready(model: nn.Module, name: str, weights: str = "none", source: str = "",
          meta: dict[str, Any] | None = None, device: str | None = None) -> ReadyModel:
    """Wrap an open model (e.g. a Workbench's) with its preprocessing and labels."""
    from engine.detection import detection_head, head_outputs

    meta = dict(meta or {})
    preprocess = preprocess_for(name, weights, meta, model)
    categories, note = categories_for(name, weights, meta, num_outputs(model))
    keypoints = None
    kp_head = "roi_heads.keypoint_predictor"
    if detection_head(model) is not None and kp_head in dict(model.named_modules()):
        keypoints = keypoint_names_for(name, meta, head_outputs(model, kp_head))
    return ReadyModel(model, name, weights, source, preprocess, categories, note, keypoints, meta,
                      device or str(model_device(model)))


def predict_ready(ready_model: ReadyModel, images: Sequence[ImageLike], topk: int = 5,
                  min_score: float = 0.0) -> list[dict[str, Any]]:
    """Return predict() for a ReadyModel (its preprocessing, labels and keypoint names)."""
    return predict(ready_model.model, images, ready_model.categories, topk,
                   preprocess=ready_model.preprocess, keypoint_names=ready_model.keypoint_names,
                   min_score=min_score)


def draw_detections(image: ImageLike, result: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Draw a detection result's boxes, labels and keypoints on the image; write it to `out`."""
    from PIL import ImageDraw

    from engine.atomic import atomic_write

    _, img = load_image(image)
    draw = ImageDraw.Draw(img)
    palette = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
               (145, 30, 180), (70, 240, 240), (240, 50, 230)]
    for n, item in enumerate(result.get("detections", [])):
        colour = palette[item["index"] % len(palette)] if "index" in item else palette[n % 8]
        x1, y1, x2, y2 = item["box"]
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=2)
        draw.text((x1 + 2, y1 + 1), f"{item['label']} {item['score']:.2f}", fill=colour)
        for point in item.get("keypoints", []):
            if point["visible"]:
                x, y = point["x"], point["y"]
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    target = Path(out)
    fmt = (target.suffix.lstrip(".") or "png").upper().replace("JPG", "JPEG")
    with atomic_write(target) as handle:
        img.save(handle, format=fmt)
    return target
