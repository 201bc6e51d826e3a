"""timm's pretrained weights the Hugging Face way (issue 10, section 4), against a local Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

try:
    from tests.helpers.hub_server import COMMIT, HubServer
except ImportError:  # tests/ itself is on sys.path
    from helpers.hub_server import COMMIT, HubServer

timm = pytest.importorskip("timm")

ARCH_TAG = "test_resnet.r160_in1k"
MODEL = f"timm/{ARCH_TAG}"
REPO = f"timm/{ARCH_TAG}"
ROOT = Path(__file__).resolve().parents[2]



def served_state() -> dict[str, torch.Tensor]:
    """Return the state dict the local Hub serves: a seeded random init of the timm model."""
    torch.manual_seed(0)
    return timm.create_model(ARCH_TAG).state_dict()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A local Hub serving the model's safetensors; HF_ENDPOINT and HF_HUB_CACHE point at it."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in served_state().items()}, str(tmp_path / "w.st"))
    server = HubServer().start()
    server.serve(REPO, "model.safetensors", (tmp_path / "w.st").read_bytes())
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for name in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HOME", "PTM_WEIGHTS_PATH"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield server
    finally:
        server.stop()


def timm_load_offline(cache: Path) -> dict[str, torch.Tensor]:
    """Return the state dict timm itself loads with pretrained=True from `cache`, offline."""
    code = ("import sys, timm, torch; m = timm.create_model(sys.argv[1], pretrained=True); "
            "torch.save(m.state_dict(), sys.argv[2])")
    out = cache.parent / "timm.pth"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    env.pop("HF_ENDPOINT", None)
    done = subprocess.run([sys.executable, "-c", code, ARCH_TAG, str(out)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return torch.load(out, weights_only=True)


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    """Assert two state dicts hold the same keys and equal tensors."""
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


def test_download_lands_in_the_hf_cache_and_timm_finds_it(hub, tmp_path: Path) -> None:
    result = ptm("download", MODEL)
    assert result.returncode == 0, result.stderr
    repo_dir = tmp_path / "hf" / f"models--timm--{ARCH_TAG}"
    path = repo_dir / "snapshots" / COMMIT / "model.safetensors"
    assert result.stdout.strip() == str(path)
    assert (repo_dir / "refs" / "main").read_text() == COMMIT  # X-Repo-Commit honoured
    files = [r for r in hub.requests if "/resolve/" in r.path]
    assert [r.method for r in files] == ["HEAD", "GET"]
    assert all(r.path == f"/{REPO}/resolve/main/model.safetensors" for r in files)
    assert_same(timm_load_offline(tmp_path / "hf"), served_state())


def test_we_open_what_timm_downloaded_offline(hub, tmp_path: Path) -> None:
    code = "import sys, timm; timm.create_model(sys.argv[1], pretrained=True)"
    done = subprocess.run([sys.executable, "-c", code, ARCH_TAG], env=dict(os.environ),
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    asked = len(hub.requests)
    result = ptm("inspect", "timm/test_resnet", "--weights", "default", "--json",
                 env={"HF_HUB_OFFLINE": "1"})  # the arch alone: its default tag
    assert result.returncode == 0, result.stderr
    assert len(hub.requests) == asked  # offline: nothing asked of the Hub
    assert "cached pretrained" in result.stdout


def test_fast_open_equals_timm_pretrained(hub) -> None:
    from engine.models.loader import open_model

    opened = open_model(MODEL, "default")
    assert opened.source == "downloaded"
    reference = timm.create_model(ARCH_TAG, pretrained=True,
                                  pretrained_cfg_overlay={"file": str(opened.weights_path)})
    assert_same(opened.model.state_dict(), reference.state_dict())
    assert_same(opened.model.state_dict(), served_state())
    again = open_model(MODEL, "default")
    assert again.source == "cached pretrained"


def test_timm_config_drives_preprocessing_and_labels(hub, tmp_path: Path) -> None:
    from PIL import Image
    from timm.data import ImageNetInfo, resolve_data_config

    from engine.models.loader import open_model
    from engine.use.preprocess import preprocess_for

    opened = open_model(MODEL, "default")
    config = resolve_data_config({}, model=timm.create_model(ARCH_TAG))
    prep = preprocess_for(MODEL, "default", opened.meta, opened.model)
    assert prep.crop == config["input_size"][-1]
    assert prep.resize == int(config["input_size"][-1] / config["crop_pct"])
    assert prep.mean == tuple(config["mean"]) and prep.std == tuple(config["std"])
    assert prep.interpolation == opened.meta["interpolation"] == config["interpolation"]
    import numpy as np
    from timm.data import create_transform

    ramp = np.linspace(0, 255, 200 * 180 * 3).reshape(180, 200, 3).astype(np.uint8)
    image = Image.fromarray(ramp)
    ours, theirs = prep(image), create_transform(**config)(image)  # timm's own pipeline
    assert ours.shape == theirs.shape
    assert float((ours - theirs).abs().mean()) < 0.02

    Image.new("RGB", (200, 180), (200, 30, 30)).save(tmp_path / "red.png")
    result = ptm("predict", MODEL, str(tmp_path / "red.png"), "--json",
                 env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    names = ImageNetInfo("imagenet-1k").label_descriptions()
    for item in json.loads(result.stdout.splitlines()[0])["top"]:
        assert item["label"] == names[item["index"]].split(",")[0]


def test_offline_without_the_file_fails_with_the_ways_on(hub) -> None:
    result = ptm("inspect", MODEL, "--weights", "default", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1
    assert "HF_HUB_OFFLINE" in result.stderr and "ptm-tui import" in result.stderr
    assert [r for r in hub.requests if "/resolve/" in r.path] == []


def test_hf_token_is_sent_and_a_missing_one_is_explained(hub) -> None:
    hub.token = "hf_secret"
    refused = ptm("download", MODEL)
    assert refused.returncode == 1 and "HF_TOKEN" in refused.stderr, refused.stderr
    result = ptm("download", MODEL, env={"HF_TOKEN": "hf_secret"})
    assert result.returncode == 0, result.stderr
    assert hub.gets()[-1].authorization == "Bearer hf_secret"


def test_catalog_lists_pretrained_tags_with_the_cached_mark(hub) -> None:
    from engine.models import catalog

    listed = {i.name: i for i in catalog.list_models("timm/test_resnet*", include_timm=True)}
    assert MODEL in listed and set(timm.list_pretrained("test_resnet*")) <= {
        n.removeprefix("timm/") for n in listed}
    assert not listed[MODEL].weights[0].cached
    assert ptm("download", MODEL).returncode == 0
    listed = {i.name: i for i in catalog.list_models("timm/test_resnet*", include_timm=True)}
    assert listed[MODEL].weights[0].cached


def test_source_filter_and_the_catalog_download_key_path(hub) -> None:
    from engine.models import catalog
    from engine.models.weights import cached_file, download

    timm_only = catalog.list_models(source="timm")
    assert timm_only and all(i.name.startswith("timm/") for i in timm_only)
    assert not any(i.name.startswith("timm/") for i in catalog.list_models(source="torchvision"))
    assert len(catalog.list_models(source="all")) == len(timm_only) + len(catalog.list_models())
    weights = catalog.resolve_weights(MODEL, "default")  # what the catalog's `d` downloads
    assert cached_file(weights.url) is None
    seen: list[int] = []
    path = download(weights.url, progress=lambda done, total: seen.append(done))
    assert cached_file(weights.url) == path and seen[-1] == path.stat().st_size


def test_a_cancelled_hub_download_leaves_no_file(hub, tmp_path: Path) -> None:
    import threading

    from engine.models.weights import DownloadCancelled, cached_file, download

    cancel = threading.Event()
    cancel.set()  # escape pressed before the first bytes arrived
    with pytest.raises(DownloadCancelled):
        download(f"hf://{REPO}", cancel=cancel)
    assert cached_file(f"hf://{REPO}") is None
    assert not list((tmp_path / "hf").rglob("snapshots/*/*"))
