"""What the launch form shows for a data path (issue 20): counts equal the references' readers
(pycocotools, torchvision's ImageFolder, the segmentation task's own check), found within bounds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from engine.errors import BadInput
from engine.train import data_found
from engine.train.data_found import find_data
from engine.train.sample_coco import write_coco, write_masks


def test_a_coco_json_counts_images_annotations_and_categories_as_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    path = write_coco(tmp_path, images=6)
    val = write_coco(tmp_path, images=3, seed=1, name="val.json")
    found = find_data(str(path), "detection", val_data=str(val))
    reference = COCO(str(path))
    assert (found.images, found.annotations) == (len(reference.imgs), len(reference.anns))
    assert found.classes == [c["name"] for c in reference.loadCats(reference.getCatIds())]
    assert found.val_images == len(COCO(str(val)).imgs)
    words = found.words()
    assert words.startswith(f"COCO JSON: 6 images (+3 val), {len(reference.anns)} annotations")
    assert f"{len(reference.cats)} categories" in words


def test_a_segmentation_folder_counts_images_masks_and_classes_as_the_task(tmp_path):
    from engine.train.config import train_config
    from engine.train.tasks import get_task

    root = write_masks(tmp_path, images=8)
    found = find_data(str(root), "semantic_segmentation")
    checked = get_task("semantic_segmentation").check_data(train_config({"data": str(root)}))
    assert (found.images, found.val_images, found.classes) == (
        checked["images"],
        checked["val_images"],
        checked["categories"],
    )
    assert found.masks == found.images
    assert found.words().startswith("images/ + masks/ (train/, val/): 6 images (+2 val), 6 masks, 3 classes")


def test_an_image_folder_and_a_csv_count_as_torchvision_and_the_csv_rows(tmp_path):
    from PIL import Image
    from torchvision.datasets import ImageFolder

    for split, per_class in (("train", 3), ("val", 1)):
        for name in ("cat", "dog"):
            (tmp_path / split / name).mkdir(parents=True)
            for n in range(per_class):
                Image.new("RGB", (4, 4)).save(tmp_path / split / name / f"{n}.png")
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    found = find_data(str(tmp_path))
    reference = ImageFolder(str(tmp_path / "train"))
    assert (found.images, found.classes) == (len(reference), reference.classes)
    assert found.val_images == len(ImageFolder(str(tmp_path / "val")))
    assert found.words() == "ImageFolder (train/, val/): 6 images (+2 val), 2 classes (cat, dog)"

    with open(tmp_path / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for path, label in reference.samples:
            writer.writerow([str(Path(path).relative_to(tmp_path)), reference.classes[label]])
    found = find_data(str(tmp_path / "labels.csv"))
    assert (found.format, found.images, found.classes) == ("labels CSV", 6, ["cat", "dog"])


def test_a_big_folder_is_counted_up_to_the_bound_and_says_at_least(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for n in range(5):
            (tmp_path / name / f"{n}.jpg").write_bytes(b"")
    monkeypatch.setattr(data_found, "MAX_FILES", 7)
    found = find_data(str(tmp_path))
    assert found.images == 7 and found.at_least and "at least 7 images" in found.words()


def test_missing_and_mismatched_data_say_what_is_wrong(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        find_data(str(tmp_path / "nothing"))
    path = write_coco(tmp_path, images=1)
    with pytest.raises(BadInput, match="COCO JSON, which detection models read"):
        find_data(str(path), "classification")
    with pytest.raises(BadInput, match="is not a COCO JSON file"):
        find_data(str(tmp_path), "detection")
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(BadInput, match="is not COCO JSON"):
        find_data(str(tmp_path / "list.json"), "keypoints")
