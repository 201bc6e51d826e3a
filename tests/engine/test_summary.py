"""Output shapes and mult-adds on meta match a real run, cost no memory, and explain bad sizes."""

from __future__ import annotations

import pytest
import torch
import torchinfo
import torchvision
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.inspect.meta import meta_copy
from engine.inspect.summary import parse_input_size, summarize


def _real_shapes(model: nn.Module, size: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Output shape of every leaf layer in a real forward pass (plain torch hooks)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(path: str):
        def record(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            shapes.setdefault(path, tuple(output.shape))
        return record

    handles = [m.register_forward_hook(hook(p))
               for p, m in model.named_modules() if p and not m._modules]
    with torch.no_grad():
        model.eval()(torch.randn(size))
    for handle in handles:
        handle.remove()
    return shapes


def test_resnet18_matches_a_real_forward_pass_and_torchinfo() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    size = (1, 3, 64, 64)
    rows = summarize(model, size)

    real = torchinfo.summary(model, input_size=size, verbose=0, depth=10)
    assert rows[""].mult_adds == real.total_mult_adds
    assert rows[""].params == sum(p.numel() for p in model.parameters())
    assert rows[""].output_shape == (1, 1000) and next(iter(rows)) == ""
    for path, shape in _real_shapes(model, size).items():
        assert rows[path].output_shape == shape, path
    assert rows["conv1"].mult_adds == 9408 * 32 * 32
    children = [p for p in rows if p.startswith("layer1.") and p.count(".") == 1]
    assert rows["layer1"].mult_adds == sum(rows[p].mult_adds for p in children) > 0
    assert rows["layer1.0"].depth == 2 and rows["layer1.0"].type == "BasicBlock"


def test_the_model_itself_is_untouched() -> None:
    model = torchvision.models.resnet18()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, (1, 3, 32, 32))
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_meta_copy_shares_no_data() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model[0].weight.requires_grad_(False)
    copied = meta_copy(model)
    assert all(t.is_meta for t in [*copied.parameters(), *copied.buffers()])
    assert not copied[0].weight.requires_grad and copied[0].bias.requires_grad
    assert isinstance(copied[0].weight, nn.Parameter) and not model[0].weight.is_meta


def test_a_big_model_on_meta_costs_no_memory() -> None:
    from engine.models.catalog import build

    model = build("vgg16", "meta")
    rows = summarize(model)  # default input 1x3x224x224
    assert rows[""].output_shape == (1, 1000)
    assert rows["features.0"].output_shape == (1, 64, 224, 224)
    assert rows[""].mult_adds > 15_000_000_000  # vgg16: about 15.5 GMACs


def test_shared_layers_sum_their_calls() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(self.layer(x))

    rows = summarize(Twice(), (2, 8))
    assert rows["layer"].calls == 2
    assert rows["layer"].mult_adds == 2 * 2 * 72  # two calls, batch 2, 72 weights+biases
    assert rows[""].mult_adds == rows["layer"].mult_adds


def test_a_size_that_does_not_fit_names_the_layer() -> None:
    model = torchvision.models.resnet18()
    with pytest.raises(BadInput) as error:
        summarize(model, (1, 5, 64, 64))
    message = error.value.message
    assert "1x5x64x64 does not fit ResNet" in message
    assert "layer 'conv1' (Conv2d, takes 3 input channels)" in message
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(BadInput, match=r"'1' \(Linear, takes 784 input features\)"):
        summarize(mlp, (1, 1, 20, 20))


def test_detection_models_say_meta_cannot_run_them() -> None:
    from engine.models.catalog import build

    model = build("fasterrcnn_mobilenet_v3_large_320_fpn", "meta")
    with pytest.raises(WorkFailed, match="meta device"):
        summarize(model, (1, 3, 320, 320))


@pytest.mark.parametrize("text", ["", "1,3,abc", "1,-3,224,224", "0,3", "1.5,3"])
def test_bad_input_sizes(text: str) -> None:
    with pytest.raises(BadInput, match="bad input size"):
        parse_input_size(text)
    with pytest.raises(BadInput, match="bad input size"):
        summarize(nn.Linear(2, 2), text)


def test_input_size_spellings() -> None:
    assert parse_input_size("1,3,224,224") == parse_input_size("1x3x224x224") == (1, 3, 224, 224)
    assert parse_input_size(" 2, 8 ") == (2, 8)
