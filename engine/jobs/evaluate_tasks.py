"""Evaluate a finetuned detector or segmentation model: COCO mAP/AP50/AP75 on a COCO JSON, or mean
IoU and pixel accuracy on images/ + masks/, optionally writing the predictions they came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from engine.errors import BadInput


def _model(ref: str, device: str, trust_code: bool) -> tuple[Any, dict[str, Any], str]:
    from engine.jobs.trained import trained_workbench
    from engine.train.tasks import task_name_of

    workbench = trained_workbench(ref, device="cpu", trust_code=trust_code)
    model = workbench.model.to(device).eval()
    return model, dict(workbench.meaning or {}), task_name_of(model)


def _config(batch_size: int, meaning: dict[str, Any]) -> Any:
    from engine.train.config import TrainConfig

    trained_at = meaning.get("resize") if meaning.get("crop") is None else None
    return TrainConfig(
        batch_size=batch_size, workers=0, image_size=int(trained_at[0]) if trained_at else None
    )


def evaluate_task(
    ref: str,
    data: Path,
    device: str = "cpu",
    batch_size: int = 8,
    predictions: str | Path | None = None,
    trust_code: bool = False,
    images_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Return the task's metrics of `ref` on `data`; write what they came from to `predictions`.
    A COCO file's images are read relative to `images_dir` (default: the JSON's folder)."""
    import contextlib

    from engine.use.averaged import ema_note

    model, meaning, task = _model(ref, device, trust_code)
    note = ema_note(meaning)
    said = {"weights_note": note} if note else {}
    config = _config(batch_size, meaning)
    classes = [c for c in meaning.get("classes") or [] if c != "__background__"]
    if task == "classification":
        raise BadInput(
            f"{ref} is a classifier, but {data} is detection or segmentation data",
            "a classifier is evaluated on class folders",
            "point --data at an ImageFolder",
        )
    if task == "semantic_segmentation":
        return {**_segmentation(ref, model, data, config, classes, predictions, meaning), **said}
    from engine.train.tasks.coco_data import CocoImages, read_coco
    from engine.train.tasks.coco_metrics import IOU_TYPES, coco_scores
    from engine.train.tasks.detection import DetectionTask, predict_results

    if data.is_dir():
        raise BadInput(
            f"{data} is a folder, but {ref} is a {task.replace('_', ' ')} model",
            "it is evaluated on a COCO JSON",
            "point --data at e.g. val.json",
        )
    coco = read_coco(data, task, images_dir)
    unknown = [name for name in coco.names if name not in classes]
    if unknown:
        raise BadInput(
            f"{data} has categories the model was not trained on: {', '.join(unknown[:5])}",
            f"it knows {', '.join(classes[:10])}",
            "evaluate on data with the training's categories",
        )
    # the model's label i + 1 is its class i; the file's own ids go into the results
    by_name = {c["name"]: c for c in coco.categories}
    coco.categories = [by_name.get(name, {"id": -1 - i, "name": name}) for i, name in enumerate(classes)]
    DetectionTask(task).prepare(model, config)
    images = CocoImages(coco, [im["id"] for im in coco.images], task)
    results = predict_results(model, images, torch.device(device), config, contextlib.nullcontext)
    scores = coco_scores(coco.ground_truth(images.image_ids()), results, IOU_TYPES[task])
    if predictions:
        from engine.atomic import atomic_write_text

        atomic_write_text(Path(predictions), json.dumps(results))
    return {
        "model": ref,
        "task": task,
        "images": len(images),
        "annotations": coco.annotation_count(),
        "skipped": coco.skipped_count,
        "predictions": len(results),
        **scores,
        **said,
    }


def _segmentation(
    ref: str,
    model: Any,
    data: Path,
    config: Any,
    classes: list[str],
    predictions: str | Path | None,
    meaning: dict[str, Any],
) -> dict[str, Any]:
    import contextlib

    from engine.train.tasks.segmentation import (
        MaskFolder,
        confusion_matrix,
        mask_pairs,
        miou_scores,
        predict_masks,
    )

    folder = data / "val" if (data / "val" / "masks").is_dir() else data
    if not (folder / "images").is_dir() or not (folder / "masks").is_dir():
        raise BadInput(
            f"{data} has no images/ and masks/",
            f"{ref} is a segmentation model",
            "point --data at a folder with images/ and masks/",
        )
    pairs, _unpaired = mask_pairs(folder)
    if not pairs:
        raise BadInput(
            f"{folder}: no image has a mask", "masks/ holds PNGs named as the images", "add the masks"
        )
    size = config.image_size or int((meaning.get("input_size") or [3, 520])[1])
    dataset = MaskFolder(
        pairs,
        size,
        False,
        tuple(meaning.get("mean") or (0.485, 0.456, 0.406)),
        tuple(meaning.get("std") or (0.229, 0.224, 0.225)),
    )
    count = len(classes) or int(model.classifier[-1].out_channels)
    matrix = torch.zeros(count, count, dtype=torch.int64)
    out_dir = Path(predictions) if predictions else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    start = 0
    device = next(model.parameters()).device
    for _x, truth, out in predict_masks(model, dataset, device, config, contextlib.nullcontext):
        matrix += confusion_matrix(truth, out["pred"], count)
        if out_dir is not None:
            _write_masks(out_dir, pairs[start : start + len(truth)], out["pred"])
        start += len(truth)
    return {
        "model": ref,
        "task": "semantic_segmentation",
        "images": len(pairs),
        "classes": classes,
        **miou_scores(matrix),
        "confusion": matrix.tolist(),
    }


def _write_masks(folder: Path, pairs: list[tuple[str, str]], masks: torch.Tensor) -> None:
    """Write each predicted mask as an index PNG named as its image (written atomically)."""
    import io

    from PIL import Image

    from engine.atomic import atomic_write

    for (image_path, _), mask in zip(pairs, masks):
        buffer = io.BytesIO()
        Image.fromarray(mask.to(torch.uint8).numpy(), mode="L").save(buffer, format="PNG")
        with atomic_write(folder / f"{Path(image_path).stem}.png") as handle:
            handle.write(buffer.getvalue())
