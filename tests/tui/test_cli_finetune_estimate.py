"""`ptm-tui finetune RECIPE --estimate-memory`: one step's memory beside the free memory, no job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import write_recipe, write_tiny

from engine.jobs.store import jobs_root
from tui.cli.main import main


@pytest.fixture
def recipe(tmp_path) -> Path:
    return write_recipe(
        tmp_path / "r.toml",
        write_tiny(tmp_path),
        {"data": str(tmp_path), "image_size": 12, "workers": 0, "optimizer": "adam"},
    )


def _no_job():
    return not jobs_root().exists() or not any(jobs_root().iterdir())


def test_the_json_estimate_adds_up_and_starts_no_job(recipe, capsys):
    assert main(["finetune", str(recipe), "--estimate-memory", "--json", "--batch-size", "16"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["device"], found["precision"], found["batch_size"]) == ("cpu", "fp32", 16)
    assert found["input_size"] == [3, 12, 12]
    # the buffers have no gradients: BatchNorm's running mean and var, and its int64 batch count
    assert found["gradients"] == found["weights"] - 4 * (16 + 32) * 2 - 2 * 8
    assert found["optimizer"] >= 2 * found["gradients"]
    assert found["peak"] >= found["weights"] + found["activations"]
    assert found["free"] > 0 and found["fits"] is True and found["warning"] is None
    assert _no_job()


def test_a_batch_bigger_than_the_ram_warns_with_the_largest_that_fits(recipe, capsys):
    flags = ["--batch-size", "65536", "--image-size", "4096", "--force"]
    assert main(["finetune", str(recipe), "--estimate-memory", *flags]) == 0
    out, err = capsys.readouterr()
    assert "peak" in out and "available RAM on cpu" in out
    assert "warning: batch_size = 65536 needs about" in err or "even batch_size = 1" in err, err
    assert _no_job()


def test_a_gpu_that_is_not_here_is_estimated_without_its_free_memory(recipe, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["finetune", str(recipe), "--estimate-memory", "--device", "cuda", "--amp", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "bf16 on cuda" in out and "unknown here" in out and "CUDA context" in out
