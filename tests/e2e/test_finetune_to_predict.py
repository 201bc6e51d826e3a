"""Issue 11, end to end on digits: finetune -> stop mid-epoch -> resume -> predict and eval on
the job's checkpoint, against plain torch at the training size with the folder's class names."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))  # finetune_helpers
from finetune_helpers import wait_for, write_recipe, write_tiny

pytestmark = pytest.mark.timeout(300)

SIZE = 12


def _cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout)


def _plain_probs(model_file, checkpoint, image):
    """The reference: the model class, the checkpoint's weights, torchvision's transforms."""
    from PIL import Image
    from torchvision import transforms as T

    spec = importlib.util.spec_from_file_location("tiny_reference", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.SlowNet(10)
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    model.eval()
    tf = T.Compose([T.Resize((SIZE, SIZE)), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    with torch.no_grad():
        return model(tf(Image.open(image).convert("RGB")).unsqueeze(0)).softmax(1)[0]


def test_finetune_stop_resume_then_predict_and_eval_the_checkpoint(tmp_path, monkeypatch):
    from engine.jobs.launch import stop
    from engine.jobs.store import job_info, read_status
    from engine.train.checkpoint import position
    from engine.train.sample_data import write_digits

    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    digits = write_digits(tmp_path / "digits", size=SIZE, limit=200)
    model_name = write_tiny(tmp_path, slow=True)
    recipe = write_recipe(tmp_path / "r.toml", model_name, {
        "data": str(digits), "image_size": SIZE, "batch_size": 4, "epochs": 2, "workers": 0,
        "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01, "log_every": 1})
    started = _cli("finetune", str(recipe), "--job-id", "e2e", "--detach", "--json")
    assert started.returncode == 0, started.stderr
    job_dir = tmp_path / "home" / "jobs" / "e2e"
    wait_for(lambda: read_status(job_dir).get("step", 0) >= 3, 120, "a few steps")
    assert stop("e2e", wait=60).status == "stopped"  # `ptm-tui stop`'s own test is in engine/
    epoch, step = position(job_info(job_dir).checkpoint)
    assert step > 0  # mid-epoch
    resumed = _cli("resume", "e2e", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["status"] == "done"
    assert f"resumed at epoch {epoch} step {step}" in (job_dir / "log.txt").read_text()
    checkpoint = job_info(job_dir).checkpoint

    images = [sorted((digits / f"digit_{k}").iterdir())[0] for k in (3, 7)]
    result = _cli("predict", checkpoint, *map(str, images), "--json", "--topk", "3",
                  "--device", "cpu", "--trust-code")  # the job's recipe names tiny.py
    assert result.returncode == 0, result.stderr
    classes = sorted(p.name for p in digits.iterdir())
    for line, image in zip(result.stdout.splitlines(), images):
        got = json.loads(line)["top"]
        want = _plain_probs(model_name.split(":")[0], checkpoint, image)
        top = want.topk(3)
        assert [g["label"] for g in got] == [classes[i] for i in top.indices.tolist()]
        assert [g["prob"] for g in got] == pytest.approx(top.values.tolist(), abs=1e-5)
    by_job = _cli("predict", "e2e", str(images[0]), "--json", "--device", "cpu", "--trust-code")
    assert json.loads(by_job.stdout)["top"][0]["label"].startswith("digit_")

    picked = tmp_path / "picked"
    picked.mkdir()
    for k, image in enumerate(images):
        (picked / f"{k}.png").write_bytes(image.read_bytes())
    out = tmp_path / "features.pt"
    features = _cli("features", "e2e", "--layers", "fc", "--images", str(picked), "--out",
                    str(out), "--device", "cpu", "--trust-code")
    assert features.returncode == 0, features.stderr
    logits = torch.load(out, weights_only=True)["fc"]
    for row, image in zip(logits, images):  # the head's outputs, preprocessed as trained
        want = _plain_probs(model_name.split(":")[0], checkpoint, image)
        assert row.softmax(0).tolist() == pytest.approx(want.tolist(), abs=1e-5)

    evaluated = _cli("eval", "e2e", "--data", str(digits), "--json", "--trust-code")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    matrix = torch.tensor(report["confusion"])
    assert report["classes"] == classes and report["images"] == 200 == int(matrix.sum())
    assert report["accuracy"] == pytest.approx(100 * float(matrix.diag().sum()) / 200)
    assert report["per_class"][3]["recall"] == pytest.approx(
        float(matrix[3, 3] / matrix[3].sum()))
    human = _cli("eval", "e2e", "--data", str(digits), "--trust-code")
    assert human.returncode == 0 and "accuracy" in human.stdout and "digit_9" in human.stdout
