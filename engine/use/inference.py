"""Predictions with category names: the weights' own preprocessing, top-k, boxes, keypoints."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.use.devices import best_device, model_device
from engine.use.images import ImageLike, load_image
from engine.use.preprocess import (
    Preprocess,
    categories_for,
    keypoint_names_for,
    preprocess_for,
    preprocess_of_meaning,
)


def _label(categories: Sequence[str] | None, index: int) -> str:
    if categories is not None and 0 <= index < len(categories):
        return str(categories[index])
    return f"class {index}"


# --- prediction --------------------------------------------------------------------------------


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
        if "masks" in output:  # instance segmentation: the mask as COCO RLE
            item["mask"] = mask_rle(output["masks"][i, 0] > 0.5)
        found.append(item)
    return found


def mask_rle(mask: torch.Tensor) -> dict[str, Any]:
    """Return a binary (H, W) mask as COCO's compressed RLE ({"size": [h, w], "counts": str})."""
    import numpy as np
    from pycocotools import mask as mask_util

    rle = mask_util.encode(np.asfortranarray(mask.detach().cpu().numpy().astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _segments(logits: torch.Tensor, categories: Sequence[str] | None,
              topk: int) -> list[dict[str, Any]]:
    probs = logits.float().softmax(0)
    share = torch.bincount(probs.argmax(0).flatten(), minlength=probs.shape[0]).float()
    share /= share.sum()
    top = _top(probs.mean((1, 2)), categories, topk)
    for item in top:
        item["pixels"] = float(share[item["index"]])
    return top


def class_map(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Return each pixel's class (argmax of (C, h, w) logits) at the image's (width, height),
    resized by nearest neighbour: a (height, width) uint8 tensor (int64 past 256 classes)."""
    classes = logits.argmax(0)[None, None].float()
    pixels = torch.nn.functional.interpolate(classes, size=(size[1], size[0]), mode="nearest")[0, 0]
    return pixels.to(torch.uint8 if logits.shape[0] <= 256 else torch.int64).cpu()


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


@torch.no_grad()
def predict(model: nn.Module, images: Sequence[ImageLike], categories: Sequence[str] | None = None,
            topk: int = 5, preprocess: Preprocess | None = None,
            keypoint_names: Sequence[str] | None = None, min_score: float = 0.0,
            batch_size: int = 16) -> list[dict[str, Any]]:
    """Return one result per image: {image, top: [{label, index, prob}]} sorted by prob.

    Detection models give {image, detections: [{label, index, score, box, keypoints?}]};
    segmentation models give top classes by mean pixel probability (with their pixel share) and
    `class_map`, each pixel's class at the image's size (a tensor: see write_class_map).
    """
    from engine.inspect.detection import is_detection_model, is_segmentation_model

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
            for (name, img), logits in zip(chunk, outputs):
                if segmentation or logits.dim() == 3:
                    results.append({"image": name, "top": _segments(logits, categories, topk),
                                    "class_map": class_map(logits, img.size)})
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
    from engine.inspect.detection import detection_head, head_outputs

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
    weights_note: str | None = None
    """What the weights are when a file says more (a job's EMA), in words; None otherwise."""


def open_for_inference(name: str, weights: str = "default", device: str | None = None,
                       progress: Callable[[int, int | None], None] | None = None) -> ReadyModel:
    """Open `name` with `weights` on `device` (best available by default), in eval mode."""
    from engine.models.loader import open_model

    device = device or best_device()
    opened = open_model(name, weights=weights, device=device, progress=progress)
    opened.model.eval()
    return ready(opened.model, name, weights, source=opened.source, meta=dict(opened.meta or {}),
                 device=device)


def ready(model: nn.Module, name: str, weights: str = "none", source: str = "",
          meta: dict[str, Any] | None = None, device: str | None = None,
          meaning: dict[str, Any] | None = None) -> ReadyModel:
    """Wrap an open model (e.g. a Workbench's) with its preprocessing and labels: those its
    weights file says (`meaning`, a finetune's) first, else the weights meta's."""
    from engine.inspect.detection import detection_head, head_outputs

    meta = dict(meta or {})
    preprocess = preprocess_of_meaning(meaning) or preprocess_for(name, weights, meta, model)
    if preprocess.kind != "detection":  # images become the channels the model takes now (C)
        from engine.use.channels import input_channels

        preprocess = replace(preprocess, channels=input_channels(model))
    outputs = num_outputs(model)
    classes = [str(c) for c in (meaning or {}).get("classes") or []]
    if classes and (outputs is None or len(classes) == outputs):
        categories, note = classes, None
    else:
        categories, note = categories_for(name, weights, meta, outputs)
    keypoints = None
    kp_head = "roi_heads.keypoint_predictor"
    if detection_head(model) is not None and kp_head in dict(model.named_modules()):
        said = meaning if (meaning or {}).get("keypoint_names") else meta  # a finetune's own names
        keypoints = keypoint_names_for(name, said, head_outputs(model, kp_head))
    from engine.use.averaged import ema_note

    return ReadyModel(model, name, weights, source, preprocess, categories, note, keypoints, meta,
                      device or str(model_device(model)), ema_note(meaning))


def workbench_ready(workbench: Any, device: str | None = None) -> ReadyModel:
    """Return a Workbench's model as it is now, with what its weights say they are."""
    return ready(workbench.model, workbench.name, workbench.weights, workbench.source_now,
                 workbench.meta, device, meaning=workbench.meaning)


def meaning_of(workbench: Any) -> dict[str, Any]:
    """Return what a Workbench's model is, to save beside its weights: the recipe that builds
    it, its class names (when they are its own) and the preprocessing its inputs need."""
    from engine.use.channels import input_channels

    opened = workbench_ready(workbench)
    meaning = {**(workbench.meaning or {}), "recipe": workbench.recipe(),
               **opened.preprocess.meaning(input_channels(workbench.model))}
    meaning.pop("classes", None)
    if opened.categories and opened.labels_note is None:
        meaning["classes"] = list(opened.categories)
    return meaning


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


def write_class_map(result: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write a segmentation result's class_map as a PNG of class indices (as eval --predictions
    writes them) at `out`, atomically; return the path."""
    import io

    from PIL import Image

    from engine.atomic import atomic_write

    buffer = io.BytesIO()
    pixels = result["class_map"]
    mode = "L" if pixels.dtype == torch.uint8 else "I"
    Image.fromarray(pixels.numpy().astype("uint8" if mode == "L" else "int32"), mode=mode).save(buffer, "PNG")
    target = Path(out)
    with atomic_write(target) as handle:
        handle.write(buffer.getvalue())
    return target
