"""Issue 20 audit: a keypoint set with images that show nobody (COCO's person_keypoints files are full
of them), or only crowds, trains and validates: their targets hold no keypoints, shaped
(0, keypoints, 3) as Keypoint R-CNN's loss takes them, instead of failing the job on a reshape."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from finetune_helpers import coco_train, train_with_task

from engine.train.config import train_config
from engine.train.sample_coco import write_coco

sys.path.insert(0, str(Path(__file__).parent))


def _without_people(path: Path, images: list[int], crowd: list[int]) -> None:
    """Drop the annotations of the `images`-th images; mark those of the `crowd`-th ones iscrowd."""
    data = json.loads(path.read_text())
    ids = [im["id"] for im in data["images"]]
    empty, crowds = {ids[i] for i in images}, {ids[i] for i in crowd}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] not in empty]
    for ann in data["annotations"]:
        ann["iscrowd"] = int(ann["image_id"] in crowds)
    path.write_text(json.dumps(data))


def test_a_keypoint_job_trains_on_images_with_nobody_and_only_crowds(tmp_path):
    from task_models import tiny_keypoints

    from engine.train.tasks import task_for

    _without_people(write_coco(tmp_path, images=6, size=64), images=[0, 1], crowd=[2])
    _without_people(write_coco(tmp_path, images=3, size=64, seed=1, name="val.json"), images=[0], crowd=[])
    model = tiny_keypoints()
    config = train_config(coco_train(tmp_path, batch_size=3))
    data = task_for(model).build_datasets(config, None)
    _image, nobody = data.train[0]
    assert nobody["keypoints"].shape == (0, 3, 3) and nobody["boxes"].shape == (0, 4)
    _image, crowd = data.train[2]
    assert crowd["keypoints"].shape == (0, 3, 3)
    model.train()
    losses = model([_image], [{k: v for k, v in crowd.items() if isinstance(v, torch.Tensor)}])
    assert torch.isfinite(sum(losses.values()))  # torchvision's own loss takes the empty target
    result = train_with_task(tiny_keypoints(), config)
    assert result.status == "done" and 0 <= result.history[-1]["val_kp_map"] <= 1
