"""Multi-layer features: FX where the model traces, hooks otherwise, the same numbers."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from engine.errors import BadInput
from engine.use.features import FeatureExtractor, extract_features


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


def test_fx_and_hooks_give_the_same_outputs(resnet):
    images = torch.randn(2, 3, 64, 64)
    fx = FeatureExtractor(resnet, ["layer1", "layer4.1.bn2", "fc"])
    hooks = FeatureExtractor(resnet, ["layer1", "layer4.1.bn2", "fc"], method="hooks")
    assert (fx.method, hooks.method) == ("fx", "hooks")
    a, b = fx(images), hooks(images)
    assert a["layer1"].shape == (2, 64, 16, 16) and a["fc"].shape == (2, 1000)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert torch.allclose(a["fc"], resnet(images), atol=1e-5)


def test_graph_nodes_that_are_not_modules_work_with_fx(resnet):
    out = extract_features(resnet, ["flatten"], torch.randn(1, 3, 64, 64))
    assert out["flatten"].shape == (1, 512)


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            x = x * 2
        return self.head(x.mean((2, 3)))


def test_untraceable_models_fall_back_to_hooks():
    extractor = FeatureExtractor(_Untraceable(), ["conv", "head"])
    assert extractor.method == "hooks"
    out = extractor(torch.randn(3, 3, 8, 8))
    assert out["conv"].shape == (3, 4, 6, 6) and out["head"].shape == (3, 2)


def test_unknown_layers_suggest_close_names(resnet):
    with pytest.raises(BadInput) as info:
        FeatureExtractor(resnet, ["layer4.1.bn3"])
    assert "layer4.1.bn3" in info.value.message and "layer4.1.bn" in info.value.fix
    with pytest.raises(BadInput, match="no layer 'nope'"):
        FeatureExtractor(_Untraceable(), ["nope"])


def test_model_mode_is_restored(resnet):
    resnet.train()
    try:
        FeatureExtractor(resnet, ["layer1"], method="hooks")(torch.randn(1, 3, 32, 32))
        assert resnet.training
    finally:
        resnet.eval()


def test_parse_layers_splits_commas_and_refuses_an_empty_list():
    from engine.use.features import parse_layers

    assert parse_layers(" layer3, layer4 ,fc") == ["layer3", "layer4", "fc"]
    assert parse_layers(None) is None
    with pytest.raises(BadInput, match="--layers ' , ' names no layer"):
        parse_layers(" , ")
