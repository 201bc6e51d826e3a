"""`ptm-tui finetune RECIPE --estimate-memory`: one step's memory beside the free memory, no job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import write_recipe, write_tiny

from engine.jobs.store import jobs_root
from tui.cli.main import main

without_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


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


@without_gpu
def test_a_gpu_that_is_not_here_is_estimated_without_its_free_memory(recipe, capsys):
    assert main(["finetune", str(recipe), "--estimate-memory", "--device", "cuda", "--amp", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "bf16 on cuda" in out and "unknown here" in out and "CUDA context" in out


def test_named_weights_are_estimated_without_their_file_and_with_the_preset(tmp_path, monkeypatch, capsys):
    """resnet50's IMAGENET1K_V2 with preset = "torchvision": nothing is downloaded (no cache, no
    network needed), and the step is the one --show-config resolves (its batch size and EMA)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", "http://127.0.0.1:9/")  # a download would fail at once
    path = tmp_path / "r50.toml"
    path.write_text(
        '[model]\nname = "resnet50"\nweights = "IMAGENET1K_V2"\n\n[[edit]]\nop = "replace_head"\n'
        f'num_classes = 10\n\n[train]\ndata = "{tmp_path}"\nimage_size = 32\npreset = "torchvision"\n'
    )
    assert main(["finetune", str(path), "--show-config", "--json"]) == 0
    shown = {row["key"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert shown["ema_decay"]["source"].startswith("preset torchvision") and shown["ema_decay"]["value"] > 0
    assert main(["finetune", str(path), "--estimate-memory", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["batch_size"] == shown["batch_size"]["value"] and found["ema"] > 0
    assert found["input_size"] == [3, 32, 32]
    assert not (tmp_path / "torch").exists() or not any((tmp_path / "torch").rglob("*.pth"))
    assert _no_job()


def test_a_small_step_reads_in_kib_not_zero_mib(recipe, capsys):
    assert main(["finetune", str(recipe), "--estimate-memory", "--json"]) == 0
    per_image = json.loads(capsys.readouterr().out)["per_image"]
    assert 0 < per_image < 2**20  # 12 px images: well under a MiB each
    assert main(["finetune", str(recipe), "--estimate-memory"]) == 0
    out = capsys.readouterr().out
    assert f"about {per_image / 2**10:.1f} KiB more per image" in out and "0.0 MiB" not in out


def test_a_segmenters_weights_count_their_aux_classifier_and_frozen_edits(tmp_path, monkeypatch, capsys):
    """fcn_resnet50's COCO weights carry an aux classifier (torchvision's builder adds it for
    them); a `freeze` edit in the recipe leaves the backbone without gradients."""
    from torchvision.models.segmentation import fcn_resnet50

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", "http://127.0.0.1:9/")  # a download would fail at once
    path = tmp_path / "fcn.toml"
    path.write_text(
        '[model]\nname = "fcn_resnet50"\nweights = "COCO_WITH_VOC_LABELS_V1"\n\n[[edit]]\n'
        f'op = "freeze"\ntarget = "backbone"\n\n[train]\ndata = "{tmp_path}"\nimage_size = 32\n'
    )
    assert main(["finetune", str(path), "--estimate-memory", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    with torch.device("meta"):
        reference = fcn_resnet50(weights=None, weights_backbone=None, aux_loss=True)
    state = reference.state_dict()
    assert found["weights"] == sum(t.numel() * t.element_size() for t in state.values())
    heads = [p for name, p in reference.named_parameters() if not name.startswith("backbone.")]
    assert found["gradients"] == 4 * sum(p.numel() for p in heads)
    assert any(name.startswith("aux_classifier.") for name in state)
    assert _no_job()


def test_torchrun_processes_each_hold_ddps_copy_of_the_gradients(recipe, capsys):
    assert main(["finetune", str(recipe), "--estimate-memory", "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert main(["finetune", str(recipe), "--estimate-memory", "--json", "--nproc-per-node", "2"]) == 0
    ranks = json.loads(capsys.readouterr().out)
    assert alone["ddp_buckets"] == 0 and ranks["ddp_buckets"] == pytest.approx(ranks["gradients"], rel=1e-3)
    assert ranks["peak"] - ranks["ddp_buckets"] == pytest.approx(alone["peak"], rel=1e-3)
    assert main(["finetune", str(recipe), "--estimate-memory", "--nproc-per-node", "2"]) == 0
    assert "ddp buckets" in capsys.readouterr().out
    assert _no_job()


@without_gpu
def test_amp_auto_on_a_gpu_not_here_says_which_precision_it_assumed(recipe, capsys):
    assert main(["finetune", str(recipe), "--estimate-memory", "--device", "cuda", "--amp", "auto"]) == 0
    out = capsys.readouterr().out
    assert "bf16 on cuda" in out and "assumed: amp = auto is bf16 on a GPU that has it" in out
    assert main(["finetune", str(recipe), "--estimate-memory", "--device", "cuda", "--amp", "bf16"]) == 0
    assert "assumed" not in capsys.readouterr().out  # asked for, not assumed
    assert main(["finetune", str(recipe), "--estimate-memory", "--device", "cuda", "--json"]) == 0
    assert "fp32 on a GPU without bf16" in json.loads(capsys.readouterr().out)["assumed"]
