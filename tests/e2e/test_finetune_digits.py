"""End to end: `ptm-tui finetune` trains resnet18 on scikit-learn's digits to >= 90% val accuracy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.train.sample_data import write_digits

RECIPE = """
[model]
name = "resnet18"
weights = "none"
seed = 0

[[edit]]
op = "replace_head"
num_classes = 10

[train]
data = "digits"
image_size = 16
batch_size = 128
epochs = 3
optimizer = "adam"
lr = 0.002
backbone_lr = 0.002
scheduler = "cosine"
workers = 0
"""


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_resnet18_reaches_90_percent_on_digits(tmp_path):
    write_digits(tmp_path / "digits", size=16)
    (tmp_path / "recipe.toml").write_text(RECIPE)
    env = {**os.environ, "PTM_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "tui.cli.main", "finetune", "recipe.toml",
                          "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=380)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    final = lines[-1]
    assert final["status"] == "done" and final["epochs"] == 3
    assert final["best_val_acc"] >= 90.0, lines
    assert [r["epoch"] for r in lines[:-1]] == [1, 2, 3]  # one JSON line per epoch first
    assert os.path.isfile(final["checkpoint"])
    import torch

    state = torch.load(final["checkpoint"], weights_only=True)
    assert state["model"]["fc.weight"].shape == (10, 512) and state["epoch"] == 3
