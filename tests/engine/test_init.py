"""Init methods, their refusals, layer selection, presets, undo and reproducibility."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from engine.edit.init import apply_init, apply_preset, select_tensors, selection_stats
from engine.edit.init_methods import METHODS, default_params, init_tensor, resolve_params
from engine.edit.workbench import Workbench
from engine.errors import BadInput

pytestmark = pytest.mark.usefixtures("one_thread")


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _all_equal(model: nn.Module, snapshot: dict[str, torch.Tensor]) -> bool:
    state = model.state_dict()
    return set(state) == set(snapshot) and all(torch.equal(state[k], snapshot[k]) for k in state)


def _small() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 10))


def test_every_method_has_parameters_with_defaults_that_resolve() -> None:
    expected = {"uniform", "normal", "constant", "ones", "zeros", "eye", "dirac", "xavier_uniform",
                "xavier_normal", "kaiming_uniform", "kaiming_normal", "trunc_normal", "orthogonal",
                "sparse"}
    assert expected <= set(METHODS)
    for name, method in METHODS.items():
        values = resolve_params(name)
        assert list(values) == [p.name for p in method.params]


def test_methods_produce_their_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.empty(512, 256)
    init_tensor(w, "uniform", {"a": -0.5, "b": 0.25}, g)
    assert w.min() >= -0.5 and w.max() <= 0.25
    init_tensor(w, "normal", {"mean": 3.0, "std": 0.5}, g)
    assert abs(w.mean().item() - 3.0) < 0.01 and abs(w.std().item() - 0.5) < 0.01
    init_tensor(w, "constant", {"val": 0.7})
    assert torch.all(w == 0.7)
    init_tensor(w, "ones")
    assert torch.all(w == 1)
    init_tensor(w, "zeros")
    assert torch.all(w == 0)
    init_tensor(w, "eye")
    assert torch.equal(w, torch.eye(512, 256))
    init_tensor(w, "xavier_normal", {"gain": 2.0}, g)
    assert abs(w.std().item() - 2.0 * math.sqrt(2 / (512 + 256))) < 0.003
    init_tensor(w, "kaiming_normal", {"nonlinearity": "relu"}, g)
    assert abs(w.std().item() - math.sqrt(2 / 256)) < 0.003
    init_tensor(w, "kaiming_uniform", {"mode": "fan_out", "nonlinearity": "relu"}, g)
    assert w.abs().max().item() <= math.sqrt(6 / 512) + 1e-6
    init_tensor(w, "trunc_normal", {"std": 1.0, "a": -0.5, "b": 0.5}, g)
    assert w.min() >= -0.5 and w.max() <= 0.5
    init_tensor(w, "sparse", {"sparsity": 0.5, "std": 0.01}, g)
    assert (w == 0).sum(dim=0).min().item() >= 256
    q = torch.empty(64, 128)
    init_tensor(q, "orthogonal", {"gain": 3.0}, g)
    assert torch.allclose(q @ q.T, 9.0 * torch.eye(64), atol=1e-3)


def test_dirac_makes_a_conv_the_identity() -> None:
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    init_tensor(conv.weight, "dirac")
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(conv(x), x)


def test_calculate_gain_is_the_default_gain_for_an_activation() -> None:
    assert default_params("xavier_uniform", "tanh")["gain"] == pytest.approx(5 / 3)
    assert default_params("orthogonal", "relu")["gain"] == pytest.approx(math.sqrt(2))
    assert default_params("xavier_normal")["gain"] == 1.0
    assert default_params("kaiming_normal", "relu")["nonlinearity"] == "relu"


@pytest.mark.parametrize(("method", "shape", "needs"), [
    ("eye", (8, 3, 3, 3), "2-D"),
    ("dirac", (8, 8), "3-D or 4-D or 5-D"),
    ("sparse", (8,), "2-D"),
    ("orthogonal", (8,), "at least a 2-D"),
    ("kaiming_normal", (8,), "at least a 2-D"),
    ("xavier_uniform", (8,), "at least a 2-D"),
])
def test_a_method_that_does_not_fit_is_refused_clearly(method: str, shape: tuple[int, ...],
                                                       needs: str) -> None:
    tensor = torch.randn(shape)
    before = tensor.clone()
    with pytest.raises(BadInput) as caught:
        init_tensor(tensor, method, generator=torch.Generator().manual_seed(0))
    assert method in caught.value.message and needs in caught.value.message
    assert "fix:" in caught.value.message
    assert torch.equal(tensor, before)


def test_a_refusal_on_one_tensor_changes_no_other_tensor() -> None:
    model = _small()
    before = _snapshot(model)
    # The conv/linear weights fit xavier, but the biases (1-D) come first in no order we rely on.
    with pytest.raises(BadInput, match="bias"):
        apply_init(model, "xavier_uniform", what="both")
    assert _all_equal(model, before)


@pytest.mark.parametrize(("method", "params", "complaint"), [
    ("normal", {"stdev": 1.0}, "its parameters are: mean=0.0, std=1.0"),
    ("normal", {"std": -1.0}, "must be >= 0"),
    ("uniform", {"a": 1.0, "b": 0.0}, "must be less than b"),
    ("kaiming_normal", {"mode": "fan_sideways"}, "one of fan_in, fan_out"),
    ("sparse", {"sparsity": 1.5}, "must be in [0, 1)"),
    ("dirac", {"groups": 1.5}, "must be int"),
    ("constant", {"val": "high"}, "must be float"),
])
def test_bad_parameters_are_refused_with_the_valid_ones(method: str, params: dict,
                                                        complaint: str) -> None:
    with pytest.raises(BadInput) as caught:
        resolve_params(method, params)
    assert complaint in caught.value.message


def test_unknown_method_lists_the_methods() -> None:
    with pytest.raises(BadInput, match="xavier_uniform"):
        resolve_params("xavier_uniformm")


def test_layer_type_selects_only_those_layers_weights_and_biases() -> None:
    model = resnet18()
    before = _snapshot(model)
    report = apply_init(model, "constant", {"val": 0.5}, layer_type="BatchNorm2d", what="both")
    assert report.tensors and all(n.endswith(("weight", "bias")) for n in report.tensors)
    state = model.state_dict()
    for name in state:
        is_bn = ("bn" in name or "downsample.1" in name) and name.endswith(("weight", "bias"))
        if is_bn:
            assert torch.all(state[name] == 0.5), name
        else:
            assert torch.equal(state[name], before[name]), name
    assert len(report.tensors) == 2 * sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_subtree_and_bias_only() -> None:
    model = resnet18()
    before = _snapshot(model)
    apply_init(model, "normal", {"std": 0.5}, target="fc", what="bias")
    state = model.state_dict()
    changed = {k for k in state if not torch.equal(state[k], before[k])}
    assert changed == {"fc.bias"}


def test_unknown_layer_type_lists_the_types_present() -> None:
    with pytest.raises(BadInput) as caught:
        select_tensors(resnet18(), "layer1", "Linear")
    assert "Conv2d" in caught.value.message and "BatchNorm2d" in caught.value.message


def test_workbench_init_undo_restores_exactly_and_redo_reapplies() -> None:
    bench = Workbench(resnet18(), "resnet18")
    original = _snapshot(bench.model)
    summary = bench.apply({"op": "init", "target": "", "method": "kaiming_normal",
                           "params": {"mode": "fan_out", "nonlinearity": "relu"},
                           "layer_type": "Conv2d"})
    assert "kaiming_normal" in summary and "20 tensors" in summary
    after = _snapshot(bench.model)
    assert not _all_equal(bench.model, original)
    bench.undo()
    assert _all_equal(bench.model, original)
    bench.redo()
    assert _all_equal(bench.model, after)
    assert bench.recipe()["edit"][0]["method"] == "kaiming_normal"


def test_refused_edit_through_workbench_leaves_model_and_history_unchanged() -> None:
    bench = Workbench(resnet18(), "resnet18")
    original = _snapshot(bench.model)
    with pytest.raises(BadInput, match="eye does not fit"):
        bench.apply({"op": "init", "target": "layer1", "method": "eye"})
    assert _all_equal(bench.model, original) and bench.edits == []


def test_same_seed_gives_identical_weights_on_fresh_models() -> None:
    edit = {"op": "init", "target": "layer2", "method": "xavier_uniform", "params": {"gain": 1.0},
            "layer_type": "Conv2d"}
    results = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed * 13)  # the fresh models start from different random weights
        bench = Workbench(resnet18(), "resnet18", seed=seed)
        bench.apply(edit)
        results.append(bench.model.layer2.state_dict())
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
    assert not torch.equal(results[0]["0.conv1.weight"], results[2]["0.conv1.weight"])


def test_preset_follows_the_common_practice() -> None:
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.Flatten(), nn.Linear(400, 300))
    nn.init.normal_(model[1].weight)
    nn.init.normal_(model[1].bias)
    report = apply_preset(model, generator=torch.Generator().manual_seed(0))
    conv, bn, linear = model[0], model[1], model[4]
    assert abs(conv.weight.std().item() - math.sqrt(2 / (64 * 9))) < 0.01
    assert torch.all(conv.bias == 0) and torch.all(linear.bias == 0)
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert abs(linear.weight.std().item() - math.sqrt(2 / 700)) < 0.003
    assert len(report.tensors) == 6


def test_preset_edit_is_undoable() -> None:
    bench = Workbench(resnet18(), "resnet18")
    original = _snapshot(bench.model)
    summary = bench.apply({"op": "init_preset", "target": "layer3"})
    assert "preset common" in summary
    bench.undo()
    assert _all_equal(bench.model, original)


def test_selection_stats_reflect_the_init() -> None:
    model = _small()
    apply_init(model, "constant", {"val": 2.0}, layer_type="Linear", what="bias")
    stats = selection_stats(model, "", "Linear", "bias")
    assert stats.count == 10 and stats.mean == 2.0 and stats.std == 0.0


def test_selection_stats_match_torch_over_the_selected_tensors() -> None:
    model = _small()
    stats = selection_stats(model, "", None, "weight")
    flat = torch.cat([model[0].weight.reshape(-1), model[1].weight, model[4].weight.reshape(-1)])
    assert stats.count == flat.numel()
    assert stats.mean == pytest.approx(flat.mean().item(), abs=1e-6)
    assert stats.std == pytest.approx(flat.std().item(), rel=1e-5)
    assert (stats.min, stats.max) == (flat.min().item(), flat.max().item())
