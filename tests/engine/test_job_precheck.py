"""A head that does not fit the data's classes is refused before a job folder exists."""

from __future__ import annotations

import subprocess
import sys

import pytest
from finetune_helpers import write_recipe

from engine.edit.recipe import load
from engine.errors import BadInput
from engine.jobs.launch import create_job
from engine.jobs.store import jobs_root


def _train(digits):
    return {"data": str(digits), "image_size": 32, "batch_size": 8, "epochs": 1, "workers": 0}


def test_a_three_class_head_on_ten_class_data_is_refused_naming_h(home, tmp_path, digits):
    recipe = write_recipe(
        tmp_path / "r.toml", "resnet18", _train(digits), edits=[{"op": "replace_head", "num_classes": 3}]
    )
    with pytest.raises(BadInput) as raised:
        create_job(load(recipe))
    error = raised.value
    assert error.what.startswith("the model (head fc) gives 3 outputs per image but the data has "
                                 "10 classes")
    assert "H in the explorer" in error.fix and "num_classes = 10" in error.fix
    assert not jobs_root().exists() or not list(jobs_root().iterdir())  # no job folder
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "finetune", str(recipe)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "gives 3 outputs per image but the data has 10 classes" in done.stderr


def test_a_replaced_head_that_fits_passes(home, tmp_path, digits):
    fits = write_recipe(
        tmp_path / "r.toml",
        "resnet18",
        _train(digits),
        edits=[
            {"op": "freeze", "target": "layer1"},
            {"op": "replace", "target": "fc", "module": "Sequential(Dropout(p=0.3), Linear(512, 10))"},
        ],
    )
    assert (create_job(load(fits)) / "spec.toml").is_file()


def test_a_model_whose_last_registered_layer_is_not_its_head_is_judged_by_its_output(
        home, tmp_path, digits):
    from finetune_helpers import write_tiny

    heavy = write_recipe(tmp_path / "h.toml", write_tiny(tmp_path, heavy=True),
                         {**_train(digits), "image_size": 12}, edits=[])
    assert (create_job(load(heavy)) / "spec.toml").is_file()  # 10 outputs: fine
