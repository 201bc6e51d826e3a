"""COCO metrics as torchvision's references/detection computes them: predictions turned into COCO
results (boxes xywh, masks as RLE, keypoints) and scored by pycocotools' COCOeval."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch

IOU_TYPES = {
    "detection": ("bbox",),
    "instance_segmentation": ("bbox", "segm"),
    "keypoints": ("bbox", "keypoints"),
}
COCO_SIGMA_MEAN = 0.0725
"""The mean of COCO's 17 per-keypoint OKS sigmas: the sigma of every keypoint when a set has
another number of keypoints (COCO's own sigmas are used for 17)."""
PREFIX = {"bbox": "bbox", "segm": "segm", "keypoints": "kp"}


def coco_results(
    outputs: list[dict[str, torch.Tensor]], image_ids: list[int], category_of: list[int]
) -> list[dict[str, Any]]:
    """Return the COCO results of the model's outputs; `category_of[label]` is the category id."""
    from engine.use.inference import mask_rle

    results: list[dict[str, Any]] = []
    for output, image_id in zip(outputs, image_ids):
        boxes = output["boxes"].detach().float().cpu()
        if not len(boxes):
            continue
        boxes[:, 2:] -= boxes[:, :2]
        scores = output["scores"].detach().float().cpu().tolist()
        labels = output["labels"].cpu().tolist()
        masks = output.get("masks")
        points = output.get("keypoints")
        for k, (box, score, label) in enumerate(zip(boxes.tolist(), scores, labels)):
            result = {
                "image_id": int(image_id),
                "category_id": int(category_of[label]),
                "bbox": [round(v, 3) for v in box],
                "score": float(score),
            }
            if masks is not None:
                result["segmentation"] = mask_rle(masks[k, 0] > 0.5)
            if points is not None:
                result["keypoints"] = points[k].detach().float().cpu().flatten().tolist()
            results.append(result)
    return results


def _coco(dataset: dict[str, Any]) -> Any:
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {"info": {}, **dataset}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_scores(
    ground_truth: dict[str, Any], results: list[dict[str, Any]], iou_types: tuple[str, ...]
) -> dict[str, float]:
    """Return mAP, AP50 and AP75 (0-1, COCOeval's stats[0:3]) of `results` for each iou type,
    keyed "<type>_map", "<type>_ap50", "<type>_ap75" (types: bbox, segm, kp). No
    prediction at all scores 0."""
    from pycocotools.cocoeval import COCOeval

    gt = _coco(ground_truth)
    scores: dict[str, float] = {}
    for iou_type in iou_types:
        prefix = PREFIX[iou_type]
        usable = [r for r in results if iou_type == "bbox" or _has(r, iou_type)]
        if not usable:
            scores.update({f"{prefix}_map": 0.0, f"{prefix}_ap50": 0.0, f"{prefix}_ap75": 0.0})
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes([dict(r) for r in usable])
            evaluator = COCOeval(gt, dt, iou_type)
            if iou_type == "keypoints":
                count = _keypoint_count(ground_truth)
                if count != 17:
                    evaluator.params.kpt_oks_sigmas = np.full(count, COCO_SIGMA_MEAN)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        stats = [max(0.0, float(v)) for v in evaluator.stats[:3]]
        scores.update({f"{prefix}_map": stats[0], f"{prefix}_ap50": stats[1], f"{prefix}_ap75": stats[2]})
    return scores


def _has(result: dict[str, Any], iou_type: str) -> bool:
    return ("segmentation" if iou_type == "segm" else iou_type) in result


def _keypoint_count(ground_truth: dict[str, Any]) -> int:
    for ann in ground_truth["annotations"]:
        if ann.get("keypoints"):
            return len(ann["keypoints"]) // 3
    return 17
