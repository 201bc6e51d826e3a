"""The layer tree as data: counts agree with plain torch, shared weights count once, 10k modules."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from engine.edit.freeze import set_trainable
from engine.errors import BadInput
from engine.inspect.tree import LayerInfo, children, layer_info, layer_tree


def _resnet18(device: str = "meta") -> nn.Module:
    import torchvision

    with torch.device(device):
        return torchvision.models.resnet18()


def _plain_counts(module: nn.Module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def test_every_module_matches_plain_torch_counts() -> None:
    model = _resnet18()
    set_trainable(model, "layer1", False)
    set_trainable(model, "layer2.0.conv1", False)
    tree = layer_tree(model)

    assert list(tree) == [path for path, _ in model.named_modules()]  # parents before children
    for path, module in model.named_modules():
        info = tree[path]
        assert (info.params, info.trainable) == _plain_counts(module), path
        assert info.own_params == sum(p.numel() for p in module.parameters(recurse=False))
        assert info.type == type(module).__name__
        assert info.children == [f"{path}.{n}" if path else n for n, _ in module.named_children()]
    assert tree[""].params == 11_689_512
    assert tree["layer1"].frozen is True and tree["layer2"].frozen is None
    assert tree["fc"].frozen is False and tree["relu"].frozen is None


def test_shapes_dtype_device_and_names() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Sequential(nn.Linear(8, 2).double()))
    tree = layer_tree(model)
    assert tree["0"].shapes == {"weight": (8, 3, 3, 3), "bias": (8,)}
    assert tree["0"].dtype == "float32" and tree["1.0"].dtype == "float64"
    assert tree[""].dtype == "mixed" and tree[""].device == "cpu"
    assert tree["1.0"].name == "0" and tree["1"].name == "1" and tree[""].name == ""
    assert tree["1"].shapes == {} and tree["1"].own_params == 0
    assert layer_tree(_resnet18())["conv1"].device == "meta"


def test_shared_parameters_count_once() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(100, 16)
            self.body = nn.Linear(16, 16)
            self.decoder = nn.Linear(16, 100)
            self.decoder.weight = self.embed.weight  # tied weights, as language models do
            self.again = self.body  # the same module registered at a second path

    model = Tied()
    tree = layer_tree(model)
    assert tree[""].params == sum(p.numel() for p in model.parameters()) == 1600 + 272 + 100
    assert tree[""].trainable == tree[""].params
    assert tree["again"].params == tree["body"].params == 272  # both paths appear
    assert tree["decoder"].params == 1700 and tree["decoder"].own_params == 1700
    model.embed.weight.requires_grad_(False)
    assert layer_tree(model)[""].trainable == 372


def test_ten_thousand_modules_in_one_cheap_pass() -> None:
    def block() -> nn.Module:
        return nn.Sequential(*[nn.Sequential(*[nn.Linear(4, 4) for _ in range(10)])
                               for _ in range(10)])

    model = nn.Sequential(*[block() for _ in range(100)])  # 11,101 modules, 20,000 tensors
    model[3][2][1].weight.requires_grad_(False)
    start = time.perf_counter()
    tree = layer_tree(model)
    elapsed = time.perf_counter() - start

    assert len(tree) == 11_101
    assert tree[""].params == 200_000 and tree[""].trainable == 200_000 - 16
    assert tree["3"].trainable == 2000 - 16 and tree["3.2.1"].trainable == 4
    assert tree["99.9.9"].children == [] and len(tree["99"].children) == 10
    assert elapsed < 10, f"layer_tree took {elapsed:.2f}s for 11,101 modules"


def test_layer_info_and_children_of_a_subtree() -> None:
    model = _resnet18()
    info = layer_info(model, "layer3.1")
    assert isinstance(info, LayerInfo)
    assert info.path == "layer3.1" and info.name == "1" and info.type == "BasicBlock"
    assert info.params == _plain_counts(model.layer3[1])[0]
    assert info.children[0] == "layer3.1.conv1"

    kids = children(model, "layer2.0")
    assert [k.path for k in kids] == ["layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu",
                                      "layer2.0.conv2", "layer2.0.bn2", "layer2.0.downsample"]
    assert kids[-1].params == _plain_counts(model.layer2[0].downsample)[0]
    assert [k.path for k in children(model)][:2] == ["conv1", "bn1"]


def test_unknown_path_is_a_clear_error() -> None:
    with pytest.raises(BadInput, match="no layer 'layer9'"):
        layer_info(_resnet18(), "layer9")
