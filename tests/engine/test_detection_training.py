"""A detection finetune trains as a classifier's does: head-only and frozen-backbone runs, per-layer
diagnostics, torchrun with two gloo processes, kill -9 and resume."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import torch
from finetune_helpers import coco_train, train_with_task, wait_for, write_recipe
from task_models import tiny_detector

from engine.edit.recipe import load
from engine.jobs.launch import create_job, launch, resume
from engine.jobs.store import DIED, job_info, read_metrics
from engine.train.config import train_config
from engine.train.events import Events
from engine.train.sample_coco import write_coco

pytestmark = pytest.mark.timeout(300)
MODELS = Path(__file__).with_name("task_models.py").resolve()


class Recorded(Events):
    """Keeps what the loop logs and each per-layer measurement."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.measured: list[dict] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    def layers(self, record: dict) -> None:
        self.measured.append(record)


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("coco")
    write_coco(root, images=8, size=64)
    write_coco(root, images=3, size=64, seed=1, name="val.json")
    return root


def _train(coco: Path, model: torch.nn.Module, **extra) -> tuple[dict, Recorded, object]:
    """Train `model` on the shapes; return its weights before, what was logged, the result."""
    before = {name: value.clone() for name, value in model.state_dict().items()}
    events = Recorded()
    result = train_with_task(model, train_config(coco_train(coco, **extra)), events)
    return before, events, result


def _changed(model: torch.nn.Module, before: dict) -> set[str]:
    """Return the top-level blocks whose weights differ from `before`."""
    return {
        name.split(".")[0]
        for name, value in model.state_dict().items()
        if not torch.equal(value, before[name])
    }


def test_head_only_epochs_train_the_roi_heads_alone_and_say_there_is_no_feature_cache(coco):
    model = tiny_detector()
    before, events, result = _train(coco, model, head_epochs=1, diagnostics_every=1)
    assert result.status == "done" and "val_bbox_map" in result.history[0]
    assert _changed(model, before) == {"roi_heads"}  # backbone and RPN stay as they were
    said = [line for line in events.lines if "feature cache" in line]
    assert said == [
        "head-only epoch without the feature cache: the feature cache is for "
        "classification, not detection, so the frozen layers run on every step "
        "(only the head's weights change)"
    ]
    # the per-layer diagnostics measure each block of the detector, and see the frozen ones stay put
    assert events.measured and {"backbone", "rpn", "roi_heads"} == set(events.measured[0]["blocks"])
    blocks = events.measured[-1]["blocks"]
    assert blocks["roi_heads"]["trainable"] and blocks["roi_heads"]["grad_norm"] > 0
    assert not blocks["backbone"]["trainable"] and not blocks["backbone"]["frozen_moved"]


def test_a_frozen_backbone_stays_frozen_while_the_rpn_and_heads_learn(coco):
    model = tiny_detector()
    model.backbone.requires_grad_(False)
    before, events, result = _train(coco, model, diagnostics_every=1)
    assert result.status == "done"
    assert _changed(model, before) == {"rpn", "roi_heads"}
    assert not any("feature cache" in line for line in events.lines)  # not a head-only run
    assert events.measured and all(
        not r["blocks"]["backbone"]["trainable"] and not r["blocks"]["backbone"]["frozen_moved"]
        for r in events.measured
    )


def _job(tmp_path: Path, coco: Path, model: str = "tiny_detector", **extra) -> Path:
    train = coco_train(coco, optimizer="adam", lr=3e-3, backbone_lr=3e-3, seed=0, **extra)
    recipe = write_recipe(tmp_path / f"{model}.toml", f"{MODELS}:{model}", train, edits=[])
    return create_job(load(recipe))


def _epochs(job_dir: Path) -> list[dict]:
    return [r for r in read_metrics(job_dir) if r.get("kind") == "epoch"]


@pytest.mark.slow
def test_torchrun_with_two_processes_scores_every_image_once(home, tmp_path, coco):
    """The mAP the two ranks gather equals one process's eval of the same weights on val.json."""
    from engine.jobs.evaluate_tasks import evaluate_task

    more = tmp_path / "more"
    write_coco(more, images=24, size=64)
    write_coco(more, images=5, size=64, seed=1, name="val.json")  # 3 + 2 images: uneven shards
    job_dir = _job(tmp_path, more, epochs=3)
    proc = launch(job_dir, nproc=2)
    proc.wait(timeout=240)
    log = (job_dir / "log.txt").read_text()
    assert job_info(job_dir).status == "done", log[-3000:]
    assert "2 processes (DDP)" in log
    digests = re.findall(r"rank (\d) of 2 .* weights sha256 (\w+)", log)
    assert sorted(r for r, _ in digests) == ["0", "1"] and len({d for _, d in digests}) == 1
    records = _epochs(job_dir)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    alone = evaluate_task(job_dir.name, more / "val.json", trust_code=True)
    assert alone["images"] == 5
    last = records[-1]
    assert last["val_bbox_ap50"] > 0  # something to compare: the shapes are being found
    for key in ("bbox_map", "bbox_ap50", "bbox_ap75"):
        assert last[f"val_{key}"] == pytest.approx(alone[key], abs=1e-4), key


@pytest.mark.slow
def test_kill_9_then_resume_ends_as_an_uninterrupted_detection_job(home, tmp_path, coco):
    straight = _job(tmp_path, coco, "slow_detector", epochs=3)
    launch(straight).wait(timeout=240)
    expected = _epochs(straight)
    assert job_info(straight).status == "done" and len(expected) == 3

    job_dir = _job(tmp_path, coco, "slow_detector", epochs=3)
    proc = launch(job_dir)
    wait_for(lambda: job_info(job_dir).epoch >= 1, 120, "the first epoch")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert job_info(job_dir).status == DIED
    _, proc = resume(job_dir.name, trust_code=True)
    proc.wait(timeout=240)
    got = _epochs(job_dir)
    assert job_info(job_dir).status == "done", (job_dir / "log.txt").read_text()[-3000:]
    assert [r["epoch"] for r in got] == [1, 2, 3]  # each epoch recorded once
    assert "resuming from epoch-000" in (job_dir / "log.txt").read_text()
    for key in ("train_loss", "val_bbox_map", "val_bbox_ap50"):
        assert got[-1][key] == pytest.approx(expected[-1][key], abs=1e-5), key
