"""`ptm-tui finetune` refuses a GPU torch does not see, and a precision it cannot run, before a job
exists (issue 24)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import write_recipe, write_tiny

from engine.jobs.store import jobs_root
from engine.use.devices import devices_seen
from tui.cli.main import main


@pytest.fixture
def recipe(tmp_path) -> Path:
    return write_recipe(
        tmp_path / "r.toml", write_tiny(tmp_path), {"data": str(tmp_path), "image_size": 12, "workers": 0}
    )


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:7"])
def test_a_gpu_torch_does_not_see_exits_2_naming_what_it_sees(recipe, capsys, device):
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    if device != "cuda:7" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["finetune", str(recipe), "--detach", "--device", device]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"device '{device}'" in err
    assert devices_seen() in err and "CPU" in err, err
    assert not jobs_root().exists() or not any(jobs_root().iterdir())


def test_a_precision_that_does_not_exist_is_a_usage_error(recipe, capsys):
    with pytest.raises(SystemExit) as ended:
        main(["finetune", str(recipe), "--detach", "--amp", "fp8"])
    assert ended.value.code == 2
    assert "bf16" in capsys.readouterr().err
    assert not jobs_root().exists() or not any(jobs_root().iterdir())
