"""Surgery edits via the Workbench: each applies and undoes exactly; a bad one changes nothing."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

from engine.edit import surgery
from engine.edit.workbench import Workbench
from engine.errors import BadInput
from engine.inspect.heads import find_head


def _snapshot(model: nn.Module) -> tuple[str, dict[str, torch.Tensor]]:
    return repr(model), {k: v.clone() for k, v in model.state_dict().items()}


def _same(model: nn.Module, snap: tuple[str, dict[str, torch.Tensor]]) -> bool:
    text, state = snap
    now = model.state_dict()
    return (
        repr(model) == text
        and list(now) == list(state)
        and all(torch.equal(now[k], state[k]) for k in state)
    )


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()  # eval: a forward must not move BatchNorm stats


@pytest.fixture(scope="module")
def alexnet() -> nn.Module:
    torch.manual_seed(1)
    return torchvision.models.alexnet().eval()


@pytest.fixture
def bench(resnet) -> Workbench:
    return Workbench(model=copy.deepcopy(resnet), name="resnet18", input_size=(1, 3, 64, 64))


def test_replace_head_keeps_in_features_and_undoes(bench):
    before = _snapshot(bench.model)
    summary = bench.apply({"op": "replace_head", "num_classes": 10})
    assert "fc" in summary
    assert (bench.model.fc.in_features, bench.model.fc.out_features) == (512, 10)
    assert bench.model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    bench.undo()
    assert _same(bench.model, before)
    bench.redo()
    assert bench.model.fc.out_features == 10


@pytest.mark.parametrize("init", ["zeros", "xavier_uniform", "trunc_normal"])
def test_replace_head_init_methods(bench, init):
    bench.apply({"op": "replace_head", "num_classes": 3, "init": init})
    assert torch.count_nonzero(bench.model.fc.bias) == 0
    assert (torch.count_nonzero(bench.model.fc.weight) == 0) == (init == "zeros")


def test_replace_head_of_a_conv_classifier():
    model = torchvision.models.squeezenet1_1()
    bench = Workbench(model=model, name="squeezenet1_1", input_size=(1, 3, 64, 64))
    bench.apply({"op": "replace_head", "num_classes": 5, "target": "classifier.1"})
    head = bench.model.classifier[1]
    assert isinstance(head, nn.Conv2d) and (head.in_channels, head.out_channels) == (512, 5)
    assert bench.model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_replace_head_on_meta_vit_keeps_meta():
    with torch.device("meta"):
        model = torchvision.models.vit_b_16()
    bench = Workbench(model=model, name="vit_b_16")
    bench.apply({"op": "replace_head", "num_classes": 17})
    head = bench.model.get_submodule(find_head(bench.model))
    assert head.out_features == 17 and head.in_features == 768 and head.weight.is_meta


def test_alexnet_features0_to_four_channels_repeat_rescales(alexnet):
    model = copy.deepcopy(alexnet)
    old = model.features[0].weight.detach().clone()
    bench = Workbench(model=model, name="alexnet")
    bench.apply({"op": "adapt_input", "channels": 4, "strategy": "repeat"})
    conv = bench.model.features[0]
    assert conv.in_channels == 4 and conv.weight.shape == (64, 4, 11, 11)
    assert torch.allclose(conv.weight[:, :3], old * 3 / 4)
    assert torch.allclose(conv.weight[:, 3], old[:, 0] * 3 / 4)
    assert bench.model(torch.randn(1, 4, 224, 224)).shape == (1, 1000)
    bench.undo()
    assert torch.equal(bench.model.features[0].weight, old)


def test_adapt_input_sum_and_zero(bench):
    old = bench.model.conv1.weight.detach().clone()
    bench.apply({"op": "adapt_input", "channels": 1, "strategy": "sum"})
    assert torch.allclose(bench.model.conv1.weight, old.sum(1, keepdim=True))
    bench.undo()
    bench.apply({"op": "adapt_input", "channels": 5, "strategy": "zero"})
    weight = bench.model.conv1.weight
    assert torch.equal(weight[:, :3], old) and torch.count_nonzero(weight[:, 3:]) == 0


def test_adapt_input_sum_refuses_more_than_one_channel(bench):
    before = _snapshot(bench.model)
    with pytest.raises(BadInput, match="'sum' cannot give 4 channels"):
        bench.apply({"op": "adapt_input", "channels": 4, "strategy": "sum"})
    assert _same(bench.model, before)


def test_insert_linear_in_resnet_fc_path_is_refused_naming_layer_and_shapes(bench):
    before = _snapshot(bench.model)
    with pytest.raises(BadInput) as info:
        bench.apply({"op": "insert_after", "target": "fc", "module": "Linear(10, 10)"})
    message = info.value.message
    assert "'fc.1'" in message and "10 input features" in message and "[1, 1000]" in message
    assert _same(bench.model, before)
    assert bench.edits == []


def test_replace_in_a_block_refused_at_the_breaking_layer(bench):
    before = _snapshot(bench.model)
    with pytest.raises(BadInput) as info:
        bench.apply(
            {"op": "replace", "target": "layer2.0.conv2", "module": "Conv2d(128, 32, 3, padding=1)"}
        )
    assert "layer2.0.bn2" in info.value.message and "128 channels" in info.value.message
    assert _same(bench.model, before)


def test_insert_and_delete_inside_sequential_shift_indices(alexnet):
    bench = Workbench(model=copy.deepcopy(alexnet), name="alexnet", input_size=(1, 3, 96, 96))
    before = _snapshot(bench.model)
    bench.apply({"op": "insert_before", "target": "classifier.6", "module": "GELU()"})
    assert isinstance(bench.model.classifier[6], nn.GELU)
    assert bench.model.classifier[7].out_features == 1000
    bench.apply({"op": "insert_after", "target": "classifier.0", "module": "Identity()"})
    assert [type(m).__name__ for m in bench.model.classifier][:3] == [
        "Dropout",
        "Identity",
        "Linear",
    ]
    bench.apply({"op": "delete", "target": "classifier.1"})
    assert len(bench.model.classifier) == 8
    bench.apply({"op": "replace", "target": "classifier.5", "module": "Dropout(p=0.3)"})
    assert bench.model.classifier[5].p == 0.3
    for _ in range(4):
        bench.undo()
    assert _same(bench.model, before)


def test_insert_outside_sequential_wraps_the_target(bench):
    bench.apply({"op": "insert_before", "target": "fc", "module": "Dropout(p=0.2)"})
    assert isinstance(bench.model.fc, nn.Sequential)
    assert isinstance(bench.model.fc[0], nn.Dropout) and isinstance(bench.model.fc[1], nn.Linear)
    bench.undo()
    assert isinstance(bench.model.fc, nn.Linear)
    bench.apply({"op": "delete", "target": "layer1.1.relu"})
    assert isinstance(bench.model.layer1[1].relu, nn.Identity)


def test_scopes_are_small():
    from engine.edit.ops import get_op

    with torch.device("meta"):
        model = torchvision.models.alexnet()
    op = get_op({"op": "insert_after", "target": "features.3", "module": "ReLU()"})
    assert op.scope(model, {"target": "features.3"}) == "features"
    assert op.scope(model, {"target": "classifier"}) == "classifier"
    assert (
        get_op({"op": "adapt_input", "channels": 4}).scope(model, {"channels": 4}) == "features.0"
    )
    assert get_op({"op": "replace_head", "num_classes": 4}).scope(model, {}) == "classifier.6"
    assert (
        get_op({"op": "delete", "target": "x"}).scope(model, {"target": "features.3"}) == "features"
    )


def test_bad_targets_and_expressions_leave_the_model_unchanged(bench):
    before = _snapshot(bench.model)
    with pytest.raises(BadInput, match="no layer 'layer9'"):
        bench.apply({"op": "delete", "target": "layer9"})
    with pytest.raises(BadInput, match="__import__"):
        bench.apply({"op": "replace", "target": "fc", "module": "__import__('os').system('x')"})
    with pytest.raises(BadInput, match="whole model"):
        bench.apply({"op": "replace", "target": "", "module": "Identity()"})
    assert _same(bench.model, before) and bench.edits == []


def test_mobilenet_head_and_input_on_meta_structure():
    with torch.device("meta"):
        model = torchvision.models.mobilenet_v3_small()
    bench = Workbench(model=model, name="mobilenet_v3_small")
    bench.apply({"op": "replace_head", "num_classes": 2})
    bench.apply({"op": "adapt_input", "channels": 1, "strategy": "sum"})
    assert bench.model.classifier[3].out_features == 2
    assert bench.model.features[0][0].in_channels == 1


def test_pure_functions_work_without_a_workbench():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert surgery.insert_after(model, "1", nn.Dropout(0.1)) == "2"
    assert surgery.insert_before(model, "0", nn.Identity()) == "0"
    assert [type(m).__name__ for m in model] == ["Identity", "Linear", "ReLU", "Dropout", "Linear"]
    assert surgery.replace_head(model, 5) == "4" and model[4].out_features == 5
    assert surgery.delete(model, "3") == "removed" and len(model) == 4
    assert model(torch.randn(3, 4)).shape == (3, 5)


def test_a_long_replacement_is_described_with_its_cut_marked():
    bench = Workbench(model=torchvision.models.resnet18(), name="resnet18")
    new = "Sequential(Dropout(p=0.3), Linear(512, 10))"
    summary = bench.apply({"op": "replace", "target": "fc", "module": new})
    # it read "... Linear(in_features=512, out_ (5,130 params)": a cut name with no mark
    assert summary.startswith("replaced fc: Linear (513,000 params) -> Sequential( (0): Dropout(p=0.3")
    assert summary.endswith("... (5,130 params)"), summary
