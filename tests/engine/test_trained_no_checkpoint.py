"""A job without a checkpoint says why by its state: a failed job is not told to resume."""

from __future__ import annotations

import pytest
from finetune_helpers import write_recipe, write_tiny

from engine.edit.recipe import load
from engine.errors import BadInput
from engine.jobs.launch import create_job
from engine.jobs.store import write_status
from engine.jobs.trained import trained_workbench


def _job(tmp_path, digits):
    train = {"data": str(digits), "image_size": 12, "batch_size": 32, "epochs": 1, "workers": 0}
    return create_job(load(write_recipe(tmp_path / "recipe.toml", write_tiny(tmp_path), train)))


def test_a_failed_job_without_a_checkpoint_points_at_its_log_not_at_resume(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits)
    write_status(job_dir, status="failed", message="CUDA out of memory")
    with pytest.raises(BadInput) as raised:
        trained_workbench(job_dir.name)
    error = raised.value
    assert "has no checkpoint yet" in error.what
    assert "it failed before saving one: CUDA out of memory" in error.why
    assert str(job_dir / "log.txt") in error.fix and "resume" not in error.fix


def test_a_stopped_job_without_a_checkpoint_can_be_resumed(home, tmp_path, digits):
    job_dir = _job(tmp_path, digits)
    write_status(job_dir, status="stopped")
    with pytest.raises(BadInput) as raised:
        trained_workbench(job_dir.name)
    assert f"ptm-tui resume {job_dir.name}" in raised.value.fix
