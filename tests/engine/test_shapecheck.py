"""The shape check runs a model on meta tensors and names the layer where shapes break."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from engine.edit.shapecheck import check_forward
from engine.errors import BadInput
from engine.inspect.meta import meta_copy


def test_meta_copy_leaves_the_model_alone_and_has_no_data():
    model = torchvision.models.resnet18()
    clone = meta_copy(model)
    assert all(p.is_meta for p in clone.parameters())
    assert all(not p.is_meta for p in model.parameters())
    assert clone.fc.weight.shape == model.fc.weight.shape
    assert clone.conv1 is not model.conv1


def test_fitting_model_reports_its_output_shape():
    result = check_forward(torchvision.models.resnet18(), (2, 3, 64, 64))
    assert result.ok and result.output_shape == (2, 1000)
    assert "[2, 3, 64, 64] -> [2, 1000]" in result.text()


def test_default_input_is_224_and_vgg_on_meta_checks():
    with torch.device("meta"):
        model = torchvision.models.vgg11()
    result = check_forward(model, None)
    assert result.input_size == (1, 3, 224, 224) and result.output_shape == (1, 1000)


def test_break_names_layer_and_both_shapes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(BadInput) as info:
        check_forward(model, (1, 3, 2, 2))
    message = info.value.message
    assert "'3' (Linear)" in message
    assert "4 input features" in message and "[1, 8]" in message


def test_channel_count_follows_the_input_conv():
    model = nn.Sequential(nn.Conv2d(4, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    result = check_forward(model, (1, 3, 32, 32))
    assert result.input_size == (1, 4, 32, 32) and result.output_shape == (1, 8)


class _DataDependent(nn.Module):
    """A model whose forward needs real values (cannot run on meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum().item() > 0:
            return self.fc(x.mean((2, 3)))
        return x


def test_models_that_cannot_run_on_meta_are_skipped_with_a_note():
    result = check_forward(_DataDependent(), (1, 3, 8, 8))
    assert not result.ok and result.skipped
    assert "cannot run on meta" in result.text()


def test_models_that_refuse_the_input_itself_are_skipped_not_blamed():
    with torch.device("meta"):
        vit = torchvision.models.vit_b_16()  # built for 224: its own forward asserts the size
        raft = torchvision.models.optical_flow.raft_small()  # takes two images
    result = check_forward(vit, (1, 3, 256, 256))
    assert result.skipped and "does not take one input of size [1, 3, 256, 256]" in result.text()
    assert check_forward(raft, (1, 3, 64, 64)).skipped
