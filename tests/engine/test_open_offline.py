"""open_model(offline=True): weights on this machine open; the rest are refused without a request."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import ResNet18_Weights, ResNet50_Weights

from engine.models.loader import open_model
from engine.models.weights import DownloadFailed


@pytest.fixture
def mirror(http_server, torch_home, monkeypatch):
    """An empty torch.hub cache and Hugging Face cache; both mirrors record every request."""
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("tv/"))
    monkeypatch.setenv("HF_HOME", str(torch_home.parent.parent / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", http_server.url("hub").rstrip("/"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("PTM_WEIGHTS_PATH", raising=False)
    return http_server


def test_offline_opens_a_cached_entry(mirror, torch_home):
    torch.manual_seed(3)
    saved = torchvision.models.resnet18().state_dict()
    torch_home.mkdir(parents=True)
    torch.save(saved, torch_home / ResNet18_Weights.IMAGENET1K_V1.url.rpartition("/")[2])
    opened = open_model("resnet18", "IMAGENET1K_V1", offline=True)
    assert opened.source == "cached pretrained" and mirror.requests == []
    assert torch.equal(opened.model.state_dict()["fc.weight"], saved["fc.weight"])


@pytest.mark.parametrize(("model", "weights", "target"), [
    ("resnet50", "IMAGENET1K_V2", "resnet50.IMAGENET1K_V2"),
    ("timm/resnet18.a1_in1k", "a1_in1k", "timm/resnet18.a1_in1k"),
])
def test_offline_refuses_weights_not_here_without_a_request(mirror, model, weights, target):
    if model.startswith("timm/"):
        pytest.importorskip("timm")
    with pytest.raises(DownloadFailed) as refused:
        open_model(model, weights, offline=True)
    assert mirror.requests == []
    assert "not on this machine" in refused.value.message
    assert f"ptm-tui download {target}" in refused.value.message


def test_without_offline_the_same_entry_is_downloaded(mirror):
    with pytest.raises(DownloadFailed):  # the mirror has no file: 404
        open_model("resnet50", "IMAGENET1K_V2")
    wanted = ResNet50_Weights.IMAGENET1K_V2.url.rpartition("/")[2]
    assert [r.path for r in mirror.requests][:1] == [f"/tv/{wanted}"]
