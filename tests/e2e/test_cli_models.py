"""`ptm-tui models`: the catalog as JSON lines and as a table, in a real process."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from torchvision import models


@pytest.fixture(scope="module")
def catalog_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One catalog cache for this module: the first run scans torchvision, the rest read it."""
    return tmp_path_factory.mktemp("ptm-cache")


@pytest.fixture
def run_cli(tmp_path: Path, catalog_cache: Path):
    """Run `ptm-tui ARGS...` in a fresh process with its own torch.hub cache; return the result."""
    env = {**os.environ, "PTM_CACHE_DIR": str(catalog_cache),
           "TORCH_HOME": str(tmp_path / "torch"), "COLUMNS": "120"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    return run


def test_json_lines_for_a_glob(run_cli, tmp_path: Path):
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    cached_url = models.ResNet18_Weights.IMAGENET1K_V1.url
    (cache / os.path.basename(cached_url)).write_bytes(b"weights")
    done = run_cli("models", "--json", "--filter", "resnet*")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["name"] for r in rows] == fnmatch.filter(models.list_models(), "resnet*")
    by_name = {r["name"]: r for r in rows}
    weights = by_name["resnet18"]["weights"]
    assert {"name", "url", "params", "cached", "acc1", "acc5", "gflops"} <= set(weights[0])
    assert [w["cached"] for w in weights] == [w["url"] == cached_url for w in weights]
    assert by_name["resnet18"]["task"] == "classification"
    assert "categories" not in weights[0]


def test_task_filter_and_table(run_cli):
    done = run_cli("models", "--task", "video")
    assert done.returncode == 0, done.stderr
    video = [n for n in models.list_models() if n in done.stdout]
    assert set(video) == set(models.list_models(module=models.video))
    assert "acc@1" in done.stdout and "resnet50" not in done.stdout


def test_plain_word_filter_and_no_match(run_cli):
    done = run_cli("models", "--json", "--filter", "mobilenet_v3")
    names = [json.loads(line)["name"] for line in done.stdout.splitlines()]
    assert names and all("mobilenet_v3" in n for n in names)
    assert "quantized_mobilenet_v3_large" in names
    none = run_cli("models", "--filter", "no_such_model")
    assert none.returncode == 0 and none.stdout == "" and "no model matches" in none.stderr
    bad = run_cli("models", "--task", "poetry")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_source_lists_torchvision_timm_or_all(run_cli):
    timm = pytest.importorskip("timm")
    pretrained = {f"timm/{name}" for name in timm.list_pretrained("convnext_tiny.*")}
    names = {}
    for source in ("torchvision", "timm", "all"):
        done = run_cli("models", "--json", "--source", source, "--filter", "convnext_tiny")
        assert done.returncode == 0, done.stderr
        names[source] = {json.loads(line)["name"] for line in done.stdout.splitlines()}
    assert names["torchvision"] == {n for n in models.list_models() if "convnext_tiny" in n}
    assert pretrained and pretrained <= names["timm"]  # every pretrained tag, none of torchvision's
    assert all(name.startswith("timm/") for name in names["timm"])
    assert names["all"] == names["torchvision"] | names["timm"]
    bad = run_cli("models", "--source", "keras")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    clash = run_cli("models", "--timm", "--source", "torchvision")
    assert clash.returncode == 2 and "--timm means --source all" in clash.stderr
