"""Detection, keypoint and segmentation finetunes for real: a tiny detector learns the synthetic
shapes, and keypoint and segmentation jobs run end to end through `ptm-tui finetune`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from finetune_helpers import coco_train, segmenter_recipe, train_with_task, write_recipe

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.sample_coco import write_coco

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

MODELS = Path(__file__).with_name("task_models.py").resolve()


def test_a_tiny_detector_learns_the_shapes(tmp_path: Path) -> None:
    """From scratch, 8 epochs on 32 drawn 64 px images: box AP50 >= 0.6 on 8 others (0.96 seen)."""
    from task_models import tiny_detector

    write_coco(tmp_path, images=32, size=64)
    write_coco(tmp_path, images=8, size=64, seed=1, name="val.json")
    train = coco_train(tmp_path, epochs=8, batch_size=8, optimizer="adam", lr=3e-3, backbone_lr=3e-3,
                       scheduler="none")
    result = train_with_task(tiny_detector(), train_config(train))
    assert result.status == "done"
    first, best = result.history[0], max(result.history, key=lambda r: r["val_bbox_ap50"])
    assert best["val_bbox_ap50"] >= 0.6 > first["val_bbox_ap50"]
    assert best["val_acc"] == pytest.approx(100 * best["val_bbox_map"])  # the job's score is box mAP
    assert {
        "train_loss_classifier",
        "train_loss_box_reg",
        "train_loss_objectness",
        "train_loss_rpn_box_reg",
    } <= set(first)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return ptm(*args, env={"PTM_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"})


def _finetune(tmp_path: Path, recipe: Path, job: str) -> subprocess.CompletedProcess:
    return _cli(tmp_path, "finetune", str(recipe), "--job-id", job, "--json")


def _epochs(tmp_path: Path, job: str) -> list[dict]:
    lines = (tmp_path / "home" / "jobs" / job / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == "epoch"]


def test_a_keypoint_job_runs_end_to_end(tmp_path: Path) -> None:
    path = write_coco(tmp_path, images=8, size=64)
    recipe = write_recipe(
        tmp_path / "kp.toml",
        f"{MODELS}:tiny_keypoints",
        {
            "data": str(path),
            "val_split": 0.25,
            "epochs": 1,
            "batch_size": 4,
            "workers": 0,
            "augment": ["flip"],
        },
        edits=[],
    )
    done = _finetune(tmp_path, recipe, "kp")
    assert done.returncode == 0, done.stderr
    (record,) = _epochs(tmp_path, "kp")
    assert record["score"] == "keypoint mAP" and 0 <= record["val_kp_map"] <= 1
    assert record["train_loss_keypoint"] > 0 and record["val_loss"] is None
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "done"
    # eval reports the figures, and writes the predictions anyone can score again with pycocotools
    shown = _cli(
        tmp_path, "eval", "kp", "--data", str(path), "--json",
        "--predictions", str(tmp_path / "results.json"),
        "--trust-code",  # the job's model is this test's own task_models.py
    )
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["task"] == "keypoints" and report["images"] == 8
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == report["predictions"] > 0 and "keypoints" in results[0]
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = COCO(str(path))
    evaluator = COCOeval(truth, truth.loadRes(str(tmp_path / "results.json")), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert report["bbox_map"] == pytest.approx(max(0.0, evaluator.stats[0]), abs=1e-4)
    assert report["bbox_ap50"] == pytest.approx(max(0.0, evaluator.stats[1]), abs=1e-4)
    # predict names the data's categories and keypoints (label 1 is the first category)
    image = tmp_path / "images" / "train_0000.png"
    said = _cli(tmp_path, "predict", "kp", str(image), "--json", "--min-score", "0", "--topk", "3",
                "--trust-code")
    assert said.returncode == 0, said.stderr
    found = json.loads(said.stdout)["detections"]
    assert found and {d["label"] for d in found} <= {"rectangle", "ellipse"}
    assert [p["name"] for p in found[0]["keypoints"]] == ["left_side", "right_side", "top"]


def test_the_head_must_count_the_background_before_launch(tmp_path: Path) -> None:
    from engine.edit.recipe import load
    from engine.jobs.launch import create_job

    path = write_coco(tmp_path, images=4, size=64)
    recipe = write_recipe(
        tmp_path / "det.toml",
        f"{MODELS}:tiny_detector",
        {"data": str(path)},
        edits=[{"op": "replace_head", "num_classes": 2}],
    )
    os.environ["PTM_HOME"] = str(tmp_path / "home")
    try:
        with pytest.raises(BadInput) as caught:
            create_job(load(recipe))
    finally:
        del os.environ["PTM_HOME"]
    assert "predicts 2 classes but the data needs 3" in caught.value.what
    assert "num_classes = 3" in caught.value.fix and "background" in caught.value.why
    assert not (tmp_path / "home" / "jobs").exists() or not any((tmp_path / "home" / "jobs").iterdir())


def test_a_classifier_refuses_coco_data(tmp_path: Path) -> None:
    path = write_coco(tmp_path, images=2, size=32)
    recipe = write_recipe(tmp_path / "cls.toml", "resnet18", {"data": str(path)})
    done = _finetune(tmp_path, recipe, "cls")
    assert done.returncode == 2
    assert "is a classifier" in done.stderr and "ImageFolder" in done.stderr


def test_a_segmentation_job_runs_end_to_end(tmp_path: Path) -> None:
    root, recipe = segmenter_recipe(tmp_path, images=8)
    done = _finetune(tmp_path, recipe, "seg")
    assert done.returncode == 0, done.stderr
    (record,) = _epochs(tmp_path, "seg")
    assert record["score"] == "mean IoU" and record["val_acc"] == pytest.approx(100 * record["val_miou"])
    assert 0 <= record["val_pixel_acc"] <= 1 and len(record["val_iou"]) == 3
    shown = _cli(
        tmp_path, "eval", "seg", "--data", str(root), "--json", "--predictions", str(tmp_path / "pred")
    )
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["miou"] == pytest.approx(record["val_miou"])  # the same val/ images
    # the PNGs written are what the figures came from: recompute pixel accuracy from them
    import numpy as np
    from PIL import Image

    truth = [np.array(Image.open(p)) for p in sorted((root / "val" / "masks").iterdir())]
    predicted = [np.array(Image.open(p)) for p in sorted((tmp_path / "pred").iterdir())]
    assert len(predicted) == len(truth) == report["images"]
    right = sum(int((t == p).sum()) for t, p in zip(truth, predicted))
    assert report["pixel_acc"] == pytest.approx(right / sum(t.size for t in truth))


def test_a_detection_finetune_stopped_and_resumed_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    from task_models import tiny_detector

    from engine.train.checkpoint import newest_complete
    from engine.train.loop import Trainer
    from engine.train.tasks import task_for

    write_coco(tmp_path, images=12, size=64)
    config = train_config(
        {
            "data": str(tmp_path / "train.json"),
            "val_split": 0.25,
            "epochs": 2,
            "batch_size": 3,
            "workers": 0,
            "augment": ["flip"],
            "optimizer": "adam",
            "lr": 1e-3,
            "scheduler": "cosine",
        }
    )
    task = task_for(tiny_detector())
    datasets = task.build_datasets(config, None)
    straight = tiny_detector()
    done = Trainer(straight, config, datasets, task=task).run()
    calls = {"n": 0}

    def stop_after_4_steps() -> bool:
        calls["n"] += 1
        return calls["n"] >= 4

    first = Trainer(
        tiny_detector(),
        config,
        datasets,
        task=task,
        checkpoint_dir=tmp_path / "ck",
        should_stop=stop_after_4_steps,
    ).run()
    assert first.status == "stopped" and first.epoch == 1
    _path, state = newest_complete(tmp_path / "ck")
    resumed = tiny_detector(num_classes=3)
    for p in resumed.parameters():  # everything must come from the checkpoint
        p.data.normal_()
    result = Trainer(resumed, config, datasets, task=task, checkpoint_dir=tmp_path / "ck").run(state)
    assert result.status == "done" and result.epoch == 2
    assert result.history[-1]["val_bbox_map"] == pytest.approx(done.history[-1]["val_bbox_map"], abs=1e-6)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-5), name
