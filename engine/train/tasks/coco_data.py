"""COCO JSON for detection, instance segmentation and keypoints: read, check, and serve images
with their targets the way torchvision's references/detection does (boxes xyxy, labels 1..C,
masks, keypoints), flips included."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from engine.errors import BadInput
from engine.train.bad_images import FLOOR

MAX_JSON_BYTES = 1 << 31
"""A COCO file larger than this (2 GiB) is refused rather than read into memory."""
SHOWN = 3


@dataclass
class CocoSet:
    """The checked content of one COCO JSON: kept images and annotations, categories, skips."""

    path: Path
    root: Path
    images: list[dict[str, Any]]
    """Kept images, each with its resolved `path`."""
    annotations: dict[int, list[dict[str, Any]]]
    """Kept annotations by image id."""
    categories: list[dict[str, Any]]
    """Sorted by id; label i + 1 is categories[i] (0 is the background)."""
    keypoint_names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Why the first few skipped images/annotations were skipped."""
    skipped_count: int = 0

    @property
    def label_of(self) -> dict[int, int]:
        """Category id -> contiguous label (1..C)."""
        return {int(c["id"]): i + 1 for i, c in enumerate(self.categories)}

    @property
    def names(self) -> list[str]:
        """Category names in label order (label 1 first)."""
        return [str(c["name"]) for c in self.categories]

    def annotation_count(self) -> int:
        """How many annotations were kept."""
        return sum(len(v) for v in self.annotations.values())

    def ground_truth(self, image_ids: list[int]) -> dict[str, Any]:
        """Return a COCO dict of `image_ids` and their kept annotations, for pycocotools."""
        wanted = set(image_ids)
        images = [{k: v for k, v in im.items() if k != "path"} for im in self.images if im["id"] in wanted]
        anns = [a for i in image_ids for a in self.annotations.get(i, [])]
        return {"images": images, "annotations": anns, "categories": self.categories}


def _bad(path: Path, why: str, fix: str) -> BadInput:
    return BadInput(f"{path} is not COCO data a job can train on", why, fix)


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInput(
            f"{path} does not exist",
            "detection data is a COCO JSON file",
            'point [train] data at e.g. "annotations/train.json"',
        )
    if path.stat().st_size > MAX_JSON_BYTES:
        raise _bad(path, f"it is larger than {MAX_JSON_BYTES >> 30} GiB", "split it into parts")
    if path.stat().st_size == 0:
        raise _bad(path, "the file is empty", "write the COCO JSON (images, annotations, categories)")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise _bad(path, f"it is not JSON ({str(error)[:100]})", "check the file") from None
    if not isinstance(data, dict):
        raise _bad(path, "its top level is not an object", "COCO JSON has images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise _bad(path, f"it has no {key!r} list", "COCO JSON has images, annotations, categories")
    return data


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _categories(path: Path, data: dict[str, Any], task: str) -> tuple[list[dict], list[str]]:
    cats = []
    for cat in data["categories"]:
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or isinstance(cat.get("id"), bool):
            raise _bad(path, f"category {str(cat)[:80]} has no integer id", "give every category an id")
        cats.append(
            {
                "id": cat["id"],
                "name": str(cat.get("name", cat["id"])),
                **({"keypoints": cat["keypoints"]} if "keypoints" in cat else {}),
                **({"skeleton": cat["skeleton"]} if "skeleton" in cat else {}),
            }
        )
    if not cats:
        raise _bad(path, "it has no categories", "list the categories (id, name) the boxes belong to")
    ids = [c["id"] for c in cats]
    if len(set(ids)) != len(ids):
        raise _bad(path, "two categories share an id", "give each category its own id")
    cats.sort(key=lambda c: c["id"])
    names: list[str] = []
    if task == "keypoints":
        with_kp = [c for c in cats if isinstance(c.get("keypoints"), list) and c["keypoints"]]
        if not with_kp:
            raise _bad(
                path,
                "no category names its keypoints",
                "a keypoint model needs categories[].keypoints (the names, in order) and "
                "annotations[].keypoints ([x, y, v] per keypoint)",
            )
        names = [str(n) for n in with_kp[0]["keypoints"]]
    return cats, names


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.size
    except Exception:  # unreadable: the loader skips and counts it later
        return None


def _check_segmentation(seg: Any) -> bool:
    if isinstance(seg, list):
        return bool(seg) and all(
            isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and all(_number(v) for v in p)
            for p in seg
        )
    return isinstance(seg, dict) and "counts" in seg and isinstance(seg.get("size"), list)


def _annotation_problem(
    ann: Any, images: dict[int, dict], label_of: dict[int, int], task: str, keypoints: int
) -> str | None:
    """Return why an annotation cannot be used (None when it can)."""
    if not isinstance(ann, dict):
        return "not an object"
    if ann.get("image_id") not in images:
        return f"unknown image id {ann.get('image_id')!r}"
    if ann.get("category_id") not in label_of:
        return f"unknown category id {ann.get('category_id')!r}"
    box = ann.get("bbox")
    if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
        return "bbox is not [x, y, width, height]"
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return f"box {box} has a non-positive size"
    image = images[ann["image_id"]]
    if x < -1 or y < -1 or x + w > image["width"] + 1 or y + h > image["height"] + 1:
        return f"box {box} lies outside the {image['width']}x{image['height']} image"
    if (
        task == "instance_segmentation"
        and not ann.get("iscrowd")
        and not _check_segmentation(ann.get("segmentation"))
    ):
        return "segmentation is not polygons or RLE"
    if task == "keypoints":
        kp = ann.get("keypoints")
        if not (isinstance(kp, list) and len(kp) == 3 * keypoints and all(_number(v) for v in kp)):
            return f"keypoints is not {keypoints} [x, y, v] triples"
    return None


def read_coco(
    path: str | Path, task: str, images_dir: str | Path | None = None, max_bad: float = 0.01
) -> CocoSet:
    """Read and check a COCO JSON for `task`; skip and count a few bad images/annotations.

    Raise BadInput when the file is empty, names no usable image, or more than `max_bad` of
    its images and annotations (and more than 10) are bad: missing image files, unknown
    image or category ids, boxes with non-positive size or outside the image.
    """
    path = Path(path).expanduser().resolve()
    data = _load_json(path)
    root = Path(images_dir).expanduser().resolve() if images_dir else path.parent
    cats, kp_names = _categories(path, data, task)
    label_of = {int(c["id"]): i + 1 for i, c in enumerate(cats)}
    if not data["images"]:
        raise _bad(path, "it lists no images", "add the images (id, file_name, width, height)")
    if not data["annotations"]:
        raise _bad(path, "it has no annotations", "annotate the images (bbox, category_id)")
    skipped: list[str] = []

    def skip(why: str) -> None:
        skipped.append(why)

    images: dict[int, dict[str, Any]] = {}
    for image in data["images"]:
        if (
            not isinstance(image, dict)
            or not isinstance(image.get("id"), int)
            or not isinstance(image.get("file_name"), str)
        ):
            skip(f"image {str(image)[:60]}: needs an integer id and a file_name")
            continue
        file = (root / image["file_name"]).resolve()
        if not file.is_relative_to(root):
            inside = Path(os.path.normpath(root / image["file_name"])).is_relative_to(root)
            link = f"a link to {file}, " if inside else ""  # a linked images folder: name it instead
            skip(f"image {image['file_name']}: {link}outside {root}")
            continue
        if not file.is_file():
            skip(f"image {image['file_name']}: missing ({file})")
            continue
        width, height = image.get("width"), image.get("height")
        if not (_number(width) and _number(height) and width > 0 and height > 0):
            size = _image_size(file)
            if size is None:
                skip(f"image {image['file_name']}: unreadable")
                continue
            width, height = size
        images[image["id"]] = {
            "id": image["id"],
            "file_name": image["file_name"],
            "width": int(width),
            "height": int(height),
            "path": str(file),
        }
    annotations: dict[int, list[dict[str, Any]]] = {}
    for number, ann in enumerate(data["annotations"]):
        problem = _annotation_problem(ann, images, label_of, task, len(kp_names))
        if problem:
            skip(f"annotation {ann.get('id', number) if isinstance(ann, dict) else number}: {problem}")
            continue
        kept = dict(ann)
        kept["id"] = number + 1  # unique ids for pycocotools, whatever the file says
        kept["iscrowd"] = int(bool(ann.get("iscrowd", 0)))
        if not _number(kept.get("area")):
            kept["area"] = float(ann["bbox"][2] * ann["bbox"][3])
        if task == "keypoints":
            kept["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
        annotations.setdefault(ann["image_id"], []).append(kept)
    total = len(data["images"]) + len(data["annotations"])
    limit = max(FLOOR, int(max_bad * total))
    if len(skipped) > limit or not annotations:
        raise BadInput(
            f"{path}: {len(skipped)} of its {total} entries ({len(data['images'])} images, "
            f"{len(data['annotations'])} annotations) are unusable",
            "; ".join(skipped[:SHOWN]),
            "fix those entries; images in another folder than the JSON's: name it (images = "
            '"DIR" in [train], --images DIR for eval); or raise max_bad_images',
        )
    return CocoSet(
        path, root, list(images.values()), annotations, cats, kp_names, skipped[:SHOWN], len(skipped)
    )


def flip_pairs(names: list[str]) -> list[int]:
    """Return, for each keypoint, the index of its mirror image (left_eye <-> right_eye, l_/r_)."""
    index = {name.lower(): i for i, name in enumerate(names)}
    order = list(range(len(names)))
    for i, name in enumerate(names):
        low = name.lower()
        if "left" in low or "right" in low:
            other = low.replace("left", "\0").replace("right", "left").replace("\0", "right")
        elif low.startswith(("l_", "r_")):
            other = ("r_" if low[0] == "l" else "l_") + low[2:]
        else:
            continue
        order[i] = index.get(other, i)
    return order


def _masks(anns: list[dict[str, Any]], height: int, width: int) -> torch.Tensor:
    from pycocotools import mask as mask_util

    out = torch.zeros((len(anns), height, width), dtype=torch.uint8)
    for i, ann in enumerate(anns):
        seg = ann["segmentation"]
        if isinstance(seg, list):
            rle = mask_util.merge(mask_util.frPyObjects(seg, height, width))
        elif isinstance(seg.get("counts"), list):
            rle = mask_util.frPyObjects(seg, height, width)
        else:
            rle = seg
        out[i] = torch.from_numpy(mask_util.decode(rle))
    return out


def targets_of(
    anns: list[dict[str, Any]], image: dict[str, Any], label_of: dict[int, int], task: str, keypoints: int = 0
) -> dict[str, Any]:
    """Return the training target of an image's annotations (crowds left out, as the references do);
    a keypoint target holds (objects, `keypoints`, 3), (0, keypoints, 3) for an image with nobody."""
    anns = [a for a in anns if not a.get("iscrowd")]
    width, height = image["width"], image["height"]
    boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    target: dict[str, Any] = {
        "boxes": boxes[keep],
        "labels": torch.tensor([label_of[a["category_id"]] for a in anns], dtype=torch.int64)[keep],
        "image_id": image["id"],
    }
    if task == "instance_segmentation":
        target["masks"] = _masks(anns, height, width)[keep]
    if task == "keypoints":
        points = torch.tensor([a["keypoints"] for a in anns], dtype=torch.float32)
        target["keypoints"] = points.reshape(len(anns), keypoints, 3)[keep]
    return target


def hflip(image: torch.Tensor, target: dict[str, Any], pairs: list[int] | None) -> None:
    """Mirror the image and its target left-right in place (boxes, masks, keypoints with pairs)."""
    width = image.shape[-1]
    image.copy_(image.flip(-1))
    boxes = target["boxes"]
    boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    if "masks" in target:
        target["masks"] = target["masks"].flip(-1)
    if "keypoints" in target:
        points = target["keypoints"]
        if pairs is not None:
            points = points[:, pairs]
        points[..., 0] = width - points[..., 0]
        points[points[..., 2] == 0] = 0
        target["keypoints"] = points


class CocoImages(Dataset):
    """Images of a CocoSet with their targets: (image tensor in [0, 1], target dict)."""

    def __init__(
        self,
        coco: CocoSet,
        image_ids: list[int],
        task: str,
        flip: bool = False,
        pairs: list[int] | None = None,
    ) -> None:
        by_id = {im["id"]: im for im in coco.images}
        self.images = [by_id[i] for i in image_ids]
        self.coco, self.task, self.flip, self.pairs = coco, task, flip, pairs
        self.label_of = coco.label_of
        self.samples = [(im["path"], 0) for im in self.images]
        """(path, 0) per image: how bad-image reports find the file."""

    def __len__(self) -> int:
        return len(self.images)

    def image_ids(self) -> list[int]:
        """The COCO image ids, in index order."""
        return [im["id"] for im in self.images]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Return (image, target); an unreadable image comes back blank with target unreadable."""
        from torchvision.transforms.functional import pil_to_tensor

        from engine.train.data import open_image

        info = self.images[index]
        points = len(self.coco.keypoint_names)
        target = targets_of(self.coco.annotations.get(info["id"], []), info, self.label_of, self.task, points)
        try:
            image = pil_to_tensor(open_image(info["path"])).float() / 255.0
        except Exception:  # truncated, empty, not an image: skipped and counted
            blank = torch.zeros(3, info["height"], info["width"])
            empty = targets_of([], info, self.label_of, self.task, points)
            return blank, {**empty, "unreadable": True}
        if self.flip and torch.rand(()) < 0.5:
            hflip(image, target, self.pairs)
        return image, target


def collate(batch: list[tuple[Any, Any, int]]) -> tuple[list[Any], list[Any], torch.Tensor]:
    """Detection batches: a list of images, a list of target dicts, the sample indices."""
    images, targets, index = zip(*batch)
    return list(images), list(targets), torch.tensor(index)
