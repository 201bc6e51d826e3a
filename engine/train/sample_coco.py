"""Small synthetic data for detection, keypoint and segmentation finetunes (tests, the bench):
drawn rectangles and ellipses with their boxes, polygons/RLE, keypoints and class masks."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

CATEGORIES = [
    {"id": 3, "name": "rectangle", "keypoints": ["left_side", "right_side", "top"], "skeleton": []},
    {"id": 7, "name": "ellipse", "keypoints": ["left_side", "right_side", "top"], "skeleton": []},
]
"""Ids with a gap on purpose: labels must still come out contiguous (1, 2)."""
COLOURS = {3: (220, 40, 40), 7: (40, 200, 60)}
SEG_CLASSES = ["background", "rectangle", "ellipse"]


def _shapes(rng: random.Random, size: int) -> list[tuple[int, list[int]]]:
    """Return up to 2 non-overlapping (category id, [x0, y0, x1, y1]) shapes."""
    shapes: list[tuple[int, list[int]]] = []
    for _ in range(rng.randint(1, 2)):
        for _try in range(20):
            w, h = rng.randint(size // 4, size // 2), rng.randint(size // 4, size // 2)
            x, y = rng.randint(0, size - w - 1), rng.randint(0, size - h - 1)
            box = [x, y, x + w, y + h]
            if all(box[2] < o[0] or o[2] < box[0] or box[3] < o[1] or o[3] < box[1] for _, o in shapes):
                shapes.append((rng.choice([3, 7]), box))
                break
    return shapes


def _draw(size: int, shapes: list[tuple[int, list[int]]], rng: random.Random) -> tuple[Any, Any]:
    from PIL import Image, ImageDraw

    shade = rng.randint(60, 120)
    image = Image.new("RGB", (size, size), (shade, shade, shade))
    classes = Image.new("L", (size, size), 0)
    draw, mask = ImageDraw.Draw(image), ImageDraw.Draw(classes)
    for cat, (x0, y0, x1, y1) in shapes:
        label = 1 if cat == 3 else 2
        if cat == 3:
            draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=COLOURS[cat])
            mask.rectangle([x0, y0, x1 - 1, y1 - 1], fill=label)
        else:
            draw.ellipse([x0, y0, x1 - 1, y1 - 1], fill=COLOURS[cat])
            mask.ellipse([x0, y0, x1 - 1, y1 - 1], fill=label)
    return image, classes


def _annotation(cat: int, box: list[int], classes: Any, label: int) -> dict[str, Any]:
    import numpy as np
    from pycocotools import mask as mask_util

    x0, y0, x1, y1 = box
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    if cat == 3:  # rectangles as polygons, ellipses as RLE: both formats in every set
        segmentation: Any = [[x0, y0, x1, y0, x1, y1, x0, y1]]
    else:
        region = np.zeros(np.asarray(classes).shape, dtype=np.uint8)
        region[y0:y1, x0:x1] = np.asarray(classes)[y0:y1, x0:x1] == label
        rle = mask_util.encode(np.asfortranarray(region))
        segmentation = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
    return {
        "category_id": cat,
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "area": (x1 - x0) * (y1 - y0),
        "iscrowd": 0,
        "segmentation": segmentation,
        "keypoints": [x0, cy, 2, x1, cy, 2, cx, y0, 2],
        "num_keypoints": 3,
    }


def write_coco(
    root: str | Path, images: int = 24, size: int = 96, seed: int = 0, name: str = "train.json"
) -> Path:
    """Write `images` drawn PNGs under root/images and their COCO JSON root/`name`; return it."""
    rng = random.Random(seed)
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"images": [], "annotations": [], "categories": CATEGORIES}
    stem = Path(name).stem
    for number in range(images):
        shapes = _shapes(rng, size)
        image, classes = _draw(size, shapes, rng)
        file_name = f"images/{stem}_{number:04d}.png"
        image.save(root / file_name)
        image_id = 1000 + number
        data["images"].append({"id": image_id, "file_name": file_name, "width": size, "height": size})
        for cat, box in shapes:
            ann = _annotation(cat, box, classes, 1 if cat == 3 else 2)
            data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": image_id, **ann})
    path = root / name
    path.write_text(json.dumps(data))
    return path


def write_masks(
    root: str | Path, images: int = 24, size: int = 64, seed: int = 0, split: bool = True
) -> Path:
    """Write drawn images and palette-PNG class masks (0 background, 1 rectangle, 2 ellipse) as
    root/[train|val]/images + masks, with classes.txt; return root."""
    rng = random.Random(seed)
    root = Path(root)
    palette = [0, 0, 0, 220, 40, 40, 40, 200, 60] + [0] * (256 * 3 - 9)
    n_val = images // 4 if split else 0
    for number in range(images):
        part = ("val" if number < n_val else "train") if split else ""
        image, classes = _draw(size, _shapes(rng, size), rng)
        for folder in ("images", "masks"):
            (root / part / folder).mkdir(parents=True, exist_ok=True)
        image.save(root / part / "images" / f"{number:04d}.png")
        classes = classes.convert("P")
        classes.putpalette(palette)
        classes.save(root / part / "masks" / f"{number:04d}.png")
    (root / "classes.txt").write_text("\n".join(SEG_CLASSES) + "\n")
    return root
