"""Issue 20, item 3: a detection or segmentation job's score is named as what it is (box mAP, mean
IoU), not "val acc"/"validation accuracy", in `finetune`'s closing lines and in `compare`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tui.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
pytestmark = pytest.mark.timeout(300)


def _job(home: Path, name: str, model: str, score: str, values: list[float]) -> None:
    folder = home / "jobs" / name
    folder.mkdir(parents=True)
    (folder / "spec.toml").write_text(f'[model]\nname = "{model}"\nweights = "none"\n')
    lines = [
        {"kind": "epoch", "epoch": i + 1, "train_loss": 1.0, "val_loss": None, "val_acc": v, "score": score}
        for i, v in enumerate(values)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_compare_names_each_jobs_score(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    _job(tmp_path, "seg", "lraspp_mobilenet_v3_large", "mean IoU", [20.0, 26.5])
    _job(tmp_path, "kp", "keypointrcnn_resnet50_fpn", "keypoint mAP", [1.0, 3.25])
    assert main(["compare", "seg", "kp"]) == 0
    out = capsys.readouterr().out
    assert "validation mean IoU / keypoint mAP (%)" in out and "accuracy" not in out
    assert "(mean IoU 26.50% after 2 epochs)" in out and "(keypoint mAP 3.25% after 2 epochs)" in out
    assert main(["compare", "seg", "kp", "--json"]) == 0
    said = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [curve["score"] for curve in said] == ["mean IoU", "keypoint mAP"]


def test_finetune_closes_with_the_tasks_score(tmp_path, monkeypatch, capsys):
    from finetune_helpers import segmenter_recipe

    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    _root, recipe = segmenter_recipe(tmp_path, images=4)
    assert main(["finetune", str(recipe)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "mean IoU: best" in out and "val acc" not in out
