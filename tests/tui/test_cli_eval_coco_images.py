"""Issue 20 audit: `eval --data annotations/val.json --images DIR` scores a COCO file whose images sit
in another folder (COCO's own layout: annotations/ beside val2017/), as `images = "DIR"` does for
training; without it the refusal names the flag. The jobs screen's `e` reads the job's own folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.train.sample_coco import write_coco
from tui.cli.main import main

pytestmark = pytest.mark.timeout(300)
MODELS = Path(__file__).parents[1] / "engine" / "task_models.py"
MEANING = {"task": "detection", "kind": "detection", "classes": ["__background__", "rectangle", "ellipse"]}
"""What a detection checkpoint says of its model: label i names classes[i]."""


@pytest.fixture
def coco_layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """COCO's layout: annotations/instances_val.json whose file_names are bare names in val2017/;
    return (the JSON, the images folder, a recipe of the tiny detector)."""
    path = write_coco(tmp_path / "drawn", images=4, size=64, seed=1, name="val.json")
    data = json.loads(path.read_text())
    (tmp_path / "annotations").mkdir()
    (tmp_path / "drawn" / "images").rename(tmp_path / "val2017")
    for image in data["images"]:
        image["file_name"] = Path(image["file_name"]).name
    annotations = tmp_path / "annotations" / "instances_val.json"
    annotations.write_text(json.dumps(data))
    return annotations, tmp_path / "val2017", _saved_detector(tmp_path / "tiny.pth")


def _saved_detector(path: Path) -> Path:
    """The tiny detector (random init) saved with its recipe and the data's class names."""
    import sys

    from engine.edit.save import save_weights

    sys.path.insert(0, str(MODELS.parent))
    from task_models import tiny_detector

    recipe = {"model": {"name": f"{MODELS}:tiny_detector", "weights": "none", "seed": 0}}
    return save_weights(tiny_detector(), path, {"recipe": recipe, **MEANING})


def test_eval_reads_the_images_from_images_dir_and_equals_pycocotools(coco_layout, tmp_path, capsys):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations, images, recipe = coco_layout
    results = tmp_path / "results.json"
    code = main(
        [
            "eval",
            str(recipe),
            "--data",
            str(annotations),
            "--images",
            str(images),
            "--predictions",
            str(results),
            "--json",
            "--trust-code",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 4 and report["skipped"] == 0
    truth = COCO(str(annotations))
    predicted = json.loads(results.read_text())
    assert len(predicted) == report["predictions"] > 0
    evaluator = COCOeval(truth, truth.loadRes(predicted), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    for key, stat in zip(("bbox_map", "bbox_ap50", "bbox_ap75"), evaluator.stats[:3]):
        assert report[key] == pytest.approx(max(0.0, stat), abs=1e-4), key


def test_eval_without_images_names_the_flag_and_counts_plainly(coco_layout, capsys):
    annotations, _images, recipe = coco_layout
    code = main(["eval", str(recipe), "--data", str(annotations), "--json", "--trust-code"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--images DIR" in err
    assert "10 of its 10 entries (4 images, 6 annotations) are unusable" in " ".join(err.split())


async def test_e_on_the_jobs_screen_reads_the_images_folder_the_job_trained_with(coco_layout, tmp_path):
    from conftest import ScreenApp, wait_for
    from task_models import tiny_detector

    from engine.edit.recipe import Recipe, dumps
    from engine.train.checkpoint import save_checkpoint
    from tui.screens.jobs.job_eval import JobEvalScreen

    annotations, images, _saved = coco_layout
    job = tmp_path / "coco-job"
    job.mkdir()
    train = {"data": str(annotations), "val_data": str(annotations), "images": str(images)}
    model = {"name": f"{MODELS}:tiny_detector", "weights": "none", "seed": 0}
    (job / "spec.toml").write_text(dumps(Recipe(model=model, train=train)))
    state = {"model": tiny_detector().state_dict(), "epoch": 1, "meaning": MEANING}
    save_checkpoint(job / "checkpoints", state, epoch=1)
    app = ScreenApp(JobEvalScreen("coco-job", str(job)), trust_code=True)
    async with app.run_test(size=(110, 30)) as pilot:
        summary = app.screen.query_one("#eval-summary")
        await wait_for(pilot, lambda: "evaluating" not in str(summary.render()), timeout=120)
        text = " ".join(str(summary.render()).split())
        assert "(detection, 4 images): bbox_map" in text, text


async def test_e_on_a_coco_job_that_split_its_file_says_to_evaluate_a_coco_file(coco_layout, tmp_path):
    from conftest import ScreenApp, wait_for
    from task_models import tiny_detector

    from engine.edit.recipe import Recipe, dumps
    from engine.train.checkpoint import save_checkpoint
    from tui.screens.jobs.job_eval import JobEvalScreen

    annotations, images, _saved = coco_layout
    job = tmp_path / "split-job"
    job.mkdir()
    train = {"data": str(annotations), "images": str(images), "val_split": 0.25}
    model = {"name": f"{MODELS}:tiny_detector", "weights": "none", "seed": 0}
    (job / "spec.toml").write_text(dumps(Recipe(model=model, train=train)))
    state = {"model": tiny_detector().state_dict(), "epoch": 1, "meaning": MEANING}
    save_checkpoint(job / "checkpoints", state, epoch=1)  # a finished job
    app = ScreenApp(JobEvalScreen("split-job", str(job)), trust_code=True)
    async with app.run_test(size=(110, 30)) as pilot:
        summary = app.screen.query_one("#eval-summary")
        await wait_for(pilot, lambda: "cannot evaluate" in str(summary.render()), timeout=60)
        text = " ".join(str(summary.render()).split())
        assert "held out part of instances_val.json by val_split" in text
        assert "--data val.json` on a COCO file" in text and "val/ folder" not in text
