"""Finetuning tasks: which task a model trains, COCO data checks, flips, and metrics equal to
pycocotools' and to a hand-computed confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.sample_coco import write_coco, write_masks
from engine.train.tasks import get_task, task_name_for, task_name_of


def _built(name: str, **kwargs: object) -> torch.nn.Module:
    from torchvision.models import get_model

    with torch.device("meta"):
        return get_model(name, weights=None, **kwargs)


@pytest.mark.parametrize(
    ("name", "task", "kwargs"),
    [
        ("resnet18", "classification", {}),
        ("fasterrcnn_mobilenet_v3_large_320_fpn", "detection", {"weights_backbone": None}),
        ("maskrcnn_resnet50_fpn", "instance_segmentation", {"weights_backbone": None}),
        ("keypointrcnn_resnet50_fpn", "keypoints", {"weights_backbone": None}),
        ("lraspp_mobilenet_v3_large", "semantic_segmentation", {"weights_backbone": None}),
    ],
)
def test_the_model_chooses_the_task(name: str, task: str, kwargs: dict) -> None:
    assert task_name_of(_built(name, **kwargs)) == task
    assert task_name_for(name) == task


@pytest.mark.parametrize("name", ["r3d_18", "raft_small"])
def test_video_and_optical_flow_are_refused_naming_what_can_be_finetuned(name: str) -> None:
    with pytest.raises(BadInput) as caught:
        task_name_for(name)
    assert "cannot finetune" in caught.value.what
    assert "COCO JSON" in caught.value.why and "ImageFolder" in caught.value.why


def _config(data: Path, **more: object) -> object:
    return train_config({"data": str(data), "workers": 0, "batch_size": 4, **more})


def _edit(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.update(annotations=[]), "no annotations"),
        (lambda d: d.update(images=[]), "lists no images"),
        (lambda d: [a.update(bbox=[1, 1, 0, 5]) for a in d["annotations"]], "non-positive size"),
        (lambda d: [a.update(bbox=[50, 50, 80, 80]) for a in d["annotations"]], "outside the"),
        (lambda d: [a.update(category_id=99) for a in d["annotations"]], "unknown category id 99"),
        (lambda d: [i.update(file_name="images/gone.png") for i in d["images"]], "missing"),
    ],
)
def test_bad_coco_files_are_named_before_a_job_exists(tmp_path: Path, change, words: str) -> None:
    path = _edit(write_coco(tmp_path, images=12, size=64), change)
    with pytest.raises(BadInput) as caught:
        get_task("detection").check_data(_config(path))
    assert words in f"{caught.value.what} {caught.value.why}"


def test_an_empty_file_and_a_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(BadInput, match="empty"):
        get_task("detection").check_data(_config(tmp_path / "empty.json"))
    with pytest.raises(BadInput, match="reads COCO JSON"):
        get_task("keypoints").check_data(_config(tmp_path))


def test_a_few_bad_entries_are_skipped_and_counted(tmp_path: Path) -> None:
    path = _edit(
        write_coco(tmp_path, images=12, size=64), lambda d: d["annotations"][0].update(bbox=[0, 0, -3, 4])
    )
    found = get_task("detection").check_data(_config(path))
    assert found["skipped"] == 1
    assert found["categories"] == ["rectangle", "ellipse"]
    assert found["annotations"] == len(json.loads(path.read_text())["annotations"]) - 1


def test_labels_are_contiguous_and_flips_move_boxes_masks_and_keypoints(tmp_path: Path) -> None:
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as F

    from engine.train.tasks.coco_data import flip_pairs, hflip

    path = write_coco(tmp_path, images=4, size=64)
    datasets = get_task("instance_segmentation").build_datasets(_config(path, val_split=0.25), None)
    image, target = datasets.train[0]
    assert set(target["labels"].tolist()) <= {1, 2}  # category ids 3 and 7
    keypoints = get_task("keypoints").build_datasets(_config(path, val_split=0.25), None).train[0][1]
    names = ["left_side", "right_side", "top"]
    assert flip_pairs(names) == [1, 0, 2]
    flipped_image, flipped = (
        image.clone(),
        {**target, "boxes": target["boxes"].clone(), "keypoints": keypoints["keypoints"].clone()},
    )
    hflip(flipped_image, flipped, flip_pairs(names))
    boxes = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=(64, 64))
    assert torch.equal(flipped["boxes"], F.horizontal_flip(boxes))
    assert torch.equal(flipped["masks"], F.horizontal_flip(tv_tensors.Mask(target["masks"])))
    assert torch.equal(flipped_image, F.horizontal_flip(image))
    # the left side of a flipped shape is where its right side was, mirrored
    before, after = keypoints["keypoints"][0], flipped["keypoints"][0]
    assert after[0, 0] == 64 - before[1, 0] and after[1, 0] == 64 - before[0, 0]
    assert after[2, 0] == 64 - before[2, 0]


def _noisy_predictions(truth: dict, seed: int) -> list[dict]:
    """Model-like outputs for every image: shifted ground-truth boxes, masks, keypoints, scores."""
    from pycocotools import mask as mask_util

    generator = torch.Generator().manual_seed(seed)
    outputs = []
    for image in truth["images"]:
        anns = [a for a in truth["annotations"] if a["image_id"] == image["id"]]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32)
        boxes[:, 2:] += boxes[:, :2]
        boxes += torch.randn(boxes.shape, generator=generator) * 3
        masks = []
        for ann in anns:
            seg = ann["segmentation"]
            rle = mask_util.merge(mask_util.frPyObjects(seg, 64, 64)) if isinstance(seg, list) else seg
            masks.append(torch.from_numpy(mask_util.decode(rle)).float()[None])
        points = torch.tensor([a["keypoints"] for a in anns], dtype=torch.float32).reshape(len(anns), 3, 3)
        points[..., :2] += torch.randn(points[..., :2].shape, generator=generator) * 2
        labels = torch.tensor([1 if a["category_id"] == 3 else 2 for a in anns])
        flip = torch.rand(len(anns), generator=generator) < 0.2
        outputs.append(
            {
                "boxes": boxes,
                "scores": torch.rand(len(anns), generator=generator),
                "labels": torch.where(flip, 3 - labels, labels),
                "masks": torch.stack(masks),
                "keypoints": points,
            }
        )
    return outputs


def test_coco_metrics_equal_pycocotools_on_the_same_predictions(tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from engine.train.tasks.coco_data import read_coco
    from engine.train.tasks.coco_metrics import coco_results, coco_scores

    path = write_coco(tmp_path, images=10, size=64, seed=3)
    truth = json.loads(path.read_text())
    coco = read_coco(path, "keypoints")
    ids = [im["id"] for im in truth["images"]]
    results = coco_results(_noisy_predictions(truth, 0), ids, [0, 3, 7])
    ours = coco_scores(coco.ground_truth(ids), results, ("bbox", "segm", "keypoints"))
    (tmp_path / "results.json").write_text(json.dumps(results))
    reference = COCO(str(path))  # the file as written, read by pycocotools itself
    for iou_type, prefix in (("bbox", "bbox"), ("segm", "segm"), ("keypoints", "kp")):
        evaluator = COCOeval(reference, reference.loadRes(str(tmp_path / "results.json")), iou_type)
        if iou_type == "keypoints":
            evaluator.params.kpt_oks_sigmas = torch.full((3,), 0.0725).numpy()
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert 0.05 < evaluator.stats[0] < 0.95  # the noise makes a score worth comparing
        for key, value in zip(("map", "ap50", "ap75"), evaluator.stats[:3]):
            assert ours[f"{prefix}_{key}"] == pytest.approx(value, abs=1e-4), (iou_type, key)


def test_mean_iou_equals_a_hand_computed_confusion_matrix() -> None:
    from engine.train.tasks.segmentation import confusion_matrix, miou_scores

    truth = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    predicted = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 2]])
    matrix = confusion_matrix(truth, predicted, 3)
    # rows: truth. class 0: 1 right, 1 as 1; class 1: 2 right, 1 as 2; class 2: 1 right, 1 as 0
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 1]]
    scores = miou_scores(matrix)
    assert scores["pixel_acc"] == pytest.approx(4 / 7)
    assert scores["iou"] == pytest.approx([1 / 3, 2 / 4, 1 / 3])
    assert scores["miou"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)


def test_mask_folders_are_checked(tmp_path: Path) -> None:
    from PIL import Image

    root = write_masks(tmp_path / "seg", images=8, size=32)
    task = get_task("semantic_segmentation")
    found = task.check_data(_config(root))
    assert found["categories"] == ["background", "rectangle", "ellipse"]
    assert (found["images"], found["val_images"]) == (6, 2)
    Image.new("L", (32, 32), 9).save(root / "train" / "masks" / "0004.png")
    with pytest.raises(BadInput, match="class index 9"):
        task.check_data(_config(root))
    with pytest.raises(BadInput, match="not a folder"):
        task.check_data(_config(write_coco(tmp_path / "coco", images=2, size=32)))


def test_the_lr_range_test_refuses_a_detector_saying_why() -> None:
    from task_models import tiny_detector

    from engine.train.lr_find import find_lr

    with pytest.raises(BadInput) as caught:
        find_lr(tiny_detector(), train_config({}), None, torch.device("cpu"))
    assert "runs on classifiers" in caught.value.what and "detection" in caught.value.what


def test_a_predicted_mask_comes_out_as_coco_rle_that_decodes_to_itself() -> None:
    from pycocotools import mask as mask_util

    from engine.use.inference import mask_rle

    mask = torch.zeros(20, 30, dtype=torch.bool)
    mask[3:9, 4:25] = True
    rle = mask_rle(mask)
    assert rle["size"] == [20, 30] and isinstance(rle["counts"], str)
    decoded = mask_util.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    assert torch.equal(torch.from_numpy(decoded).bool(), mask)


def test_the_recipe_can_name_which_keypoints_swap_in_a_flip(tmp_path: Path) -> None:
    path = write_coco(tmp_path, images=4, size=64)
    task = get_task("keypoints")
    swapped = task.build_datasets(_config(path, flip_pairs=["left_side:top"], augment="flip"), None)
    assert swapped.train.pairs == [2, 1, 0]
    assert task.build_datasets(_config(path, augment="flip"), None).train.pairs == [1, 0, 2]
    with pytest.raises(BadInput, match="flip_pairs") as caught:
        task.check_data(_config(path, flip_pairs=["left_side:nose"]))
    assert "left_side, right_side, top" in caught.value.why
