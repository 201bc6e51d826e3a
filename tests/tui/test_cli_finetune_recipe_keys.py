"""`ptm-tui finetune` refuses recipe values that cannot work before a job exists (issue 21)."""

from __future__ import annotations

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
        tmp_path / "r.toml", write_tiny(tmp_path), {"data": str(tmp_path), "image_size": 12, "workers": 0}
    )


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--lr", "1e308"], ["lr", "float32"]),
        (["--label-smoothing", "-0.1"], ["label_smoothing"]),
        (["--accumulate-steps", "0"], ["accumulate_steps"]),
        (["--clip-grad-norm", "nan"], ["clip_grad_norm"]),
        (["--warmup-epochs", "-1"], ["warmup_epochs"]),
        (["--early-stopping", "-2"], ["early_stopping"]),
        (["--ema-decay", "1.5"], ["ema_decay"]),
        (["--ema-steps", "0"], ["ema_steps"]),
        (["--auto-augment", "randaug"], ["auto_augment", "ta_wide"]),
        (["--mixup-alpha", "-1"], ["mixup_alpha"]),
        (["--layer-decay", "0.75"], ["layer_decay", "TinyNet", "group_matcher"]),
        (["--layer-decay", "0"], ["layer_decay", "(0, 1]"]),
        (["--class-balance", "oversample"], ["class_balance", "sampler"]),
        (["--preset", "torchvision"], ["preset", "not a torchvision model"]),
    ],
)
def test_bad_values_exit_2_and_no_job_is_made(recipe, capsys, flags, words):
    assert main(["finetune", str(recipe), "--detach", *flags]) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words), err
    assert not jobs_root().exists() or not any(jobs_root().iterdir())
