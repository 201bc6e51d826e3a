"""A job trained with ema_decay: eval, predict and export use the averaged weights and say so
(issue 21); a job without EMA says nothing of the kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import digits_train, plain_probs, write_recipe, write_tiny

from tui.cli.main import main


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, digits):
    """Two finished one-epoch jobs of the tiny CNN on digits: "ema" (ema_decay 0.5 every update)
    and "plain" (no EMA); return (PTM_HOME, the digits folder)."""
    folder = tmp_path_factory.mktemp("ema")
    model = write_tiny(folder)
    recipe = write_recipe(folder / "r.toml", model, digits_train(digits, batch_size=16))
    env = {**os.environ, "PTM_HOME": str(folder / "home"), "OMP_NUM_THREADS": "1"}
    for job, extra in (("ema", ["--ema-decay", "0.5", "--ema-steps", "1"]), ("plain", [])):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tui.cli.main",
                "finetune",
                str(recipe),
                "--job-id",
                job,
                "--json",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
        )
        assert done.returncode == 0, done.stderr
    return folder / "home", digits


def _run(capsys, args: list[str]) -> str:
    assert main([*args, "--trust-code"]) == 0
    out = capsys.readouterr()
    return out.out + out.err


def test_eval_predict_and_export_of_an_ema_job_say_they_use_the_averaged_weights(
    jobs, capsys, monkeypatch, tmp_path
):
    home, digits = jobs
    monkeypatch.setenv("PTM_HOME", str(home))
    image = next((digits / "digit_3").iterdir())
    said = "EMA of the trained weights (ema_decay 0.5, every update)"
    assert said in _run(capsys, ["eval", "ema", "--data", str(digits)])
    assert said in _run(capsys, ["predict", "ema", str(image)])
    out = str(tmp_path / "m.safetensors")
    assert said in _run(capsys, ["export", "ema", "--format", "safetensors", "--out", out])
    assert main(["eval", "ema", "--data", str(digits), "--json", "--trust-code"]) == 0
    assert said in capsys.readouterr().out  # scripts read it too
    for args in (["eval", "plain", "--data", str(digits)], ["predict", "plain", str(image)]):
        assert "EMA" not in _run(capsys, args)


def test_what_predict_says_it_used_is_the_checkpoints_averaged_model(jobs, capsys, monkeypatch):
    """The reference: plain TinyNet with the checkpoint's `model` (the AveragedModel's weights),
    not its `trained_model`, gives predict's probabilities."""
    from engine.train.checkpoint import newest_complete

    home, digits = jobs
    monkeypatch.setenv("PTM_HOME", str(home))
    _, state = newest_complete(home / "jobs" / "ema" / "checkpoints")
    assert not all(torch.equal(state["model"][k], state["trained_model"][k]) for k in state["model"])
    image = next((digits / "digit_3").iterdir())
    assert main(["predict", "ema", str(image), "--json", "--topk", "10", "--trust-code"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    got = {item["label"]: item["prob"] for item in result["top"]}
    want = plain_probs(state["model"], image, 12)
    names = sorted(p.name for p in digits.iterdir())
    for index, name in enumerate(names):
        assert got[name] == pytest.approx(float(want[index]), abs=1e-5)
