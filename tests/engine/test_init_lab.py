"""The depth/std experiment shows the classic behaviours; activation stds of a real model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from engine.edit.workbench import Workbench
from engine.errors import BadInput
from engine.use.init_lab import LabConfig, StdExperiment, activation_stds, first_nonfinite, run_lab

pytestmark = pytest.mark.usefixtures("one_thread")


def test_normal_without_activation_explodes_around_layer_30() -> None:
    # std grows ×√256 = 16 per layer; float32 overflows (3.4e38 ≈ 16^32) near layer 30.
    result = run_lab(LabConfig(depth=100, width=256, activation="none", init="normal", gain=None))
    assert result.first_nonfinite_layer is not None
    assert 25 <= result.first_nonfinite_layer <= 35
    assert len(result.stds) == result.first_nonfinite_layer
    assert all(b > a * 8 for a, b in zip(result.stds[1:], result.stds[2:]))
    assert "exploded" in result.verdict()


def test_xavier_uniform_with_tanh_gain_keeps_tanh_level_over_100_layers() -> None:
    result = run_lab(LabConfig(depth=100, activation="tanh", init="xavier_uniform", gain="auto"))
    assert result.first_nonfinite_layer is None and len(result.stds) == 100
    assert min(result.stds[10:]) > 0.5 and max(result.stds[10:]) < 0.9
    assert abs(result.stds[99] - result.stds[10]) < 0.1


def test_kaiming_normal_keeps_relu_near_one_and_xavier_lets_it_vanish() -> None:
    kaiming = run_lab(LabConfig(activation="relu", init="kaiming_normal",
                                params={"nonlinearity": "relu"}, gain=None))
    assert len(kaiming.stds) == 100
    assert all(0.1 < s < 10 for s in kaiming.stds)
    xavier = run_lab(LabConfig(activation="relu", init="xavier_normal", gain=1.0))
    assert xavier.stds[99] < 1e-10
    assert xavier.stds[99] < kaiming.stds[99] * 1e-8
    assert "vanished" in xavier.verdict() and "healthy" in kaiming.verdict()


def test_experiment_yields_layers_in_order_and_is_reproducible_by_seed() -> None:
    config = LabConfig(depth=12, width=64, batch=32, activation="gelu", init="orthogonal",
                       bias=True)
    seen = list(StdExperiment(config))
    assert [layer for layer, _ in seen] == list(range(12))
    again = [std for _, std in StdExperiment(config)]
    assert again == [std for _, std in seen]
    other = [std for _, std in StdExperiment(LabConfig(**{**config.__dict__, "seed": 1}))]
    assert other != again


def test_auto_gain_for_kaiming_uses_the_activation() -> None:
    experiment = StdExperiment(LabConfig(depth=1, activation="leaky_relu", init="kaiming_uniform"))
    assert experiment.params["nonlinearity"] == "leaky_relu" and experiment.params["a"] == 0.01


@pytest.mark.parametrize(("config", "message"), [
    (LabConfig(init="kaiming_normal", gain=2.0), "takes no gain"),
    (LabConfig(activation="swish"), "unknown activation"),
    (LabConfig(depth=0), "depth must be a positive"),
    (LabConfig(init="normal", params={"sigma": 1}), "its parameters are"),
    (LabConfig(init="eye", width=8, depth=2, gain=None, activation="none"), None),
])
def test_bad_configs_are_refused(config: LabConfig, message: str | None) -> None:
    if message is None:  # eye fits a square matrix: a clean identity network
        result = run_lab(config)
        assert len(result.stds) == 2 and math.isclose(result.stds[0], result.stds[1])
        return
    with pytest.raises(BadInput, match=message):
        run_lab(config)


def test_activation_stds_lists_every_leaf_layer_in_forward_order() -> None:
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 8), nn.Tanh()))
    records = activation_stds(model, input_size=(1, 16), batch_size=64)
    assert [r.path for r in records] == ["0", "1", "2.0", "2.1"]
    assert [r.type for r in records] == ["Linear", "ReLU", "Linear", "Tanh"]
    assert records[2].shape == (64, 8)
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    assert records[0].std == pytest.approx(model[0](x).std().item(), rel=1e-5)
    assert not model._forward_hooks and not model[0]._forward_hooks


def test_activation_stds_before_and_after_an_init_on_resnet18() -> None:
    bench = Workbench(resnet18(), "resnet18", input_size=(1, 3, 64, 64))
    before = activation_stds(bench.model, input_size=bench.input_size, batch_size=2)
    assert before[0].path == "conv1" and before[-1].path == "fc"
    assert first_nonfinite(before) is None
    bench.apply({"op": "init", "target": "fc", "method": "normal", "params": {"std": 1e30}})
    after = activation_stds(bench.model, input_size=bench.input_size, batch_size=2)
    assert [r.path for r in after] == [r.path for r in before]
    assert after[-1].std > before[-1].std * 1e20
    assert after[-2].std == pytest.approx(before[-2].std)  # layers before fc are unchanged
    bench.apply({"op": "init", "target": "fc", "method": "normal", "params": {"std": 1e38}})
    broken = activation_stds(bench.model, input_size=bench.input_size, batch_size=2)
    assert first_nonfinite(broken) is not None and first_nonfinite(broken).path == "fc"
    assert bench.model.training  # the mode is restored after measuring in eval mode


def test_activation_stds_without_input_size_or_with_wrong_one_is_refused() -> None:
    with pytest.raises(BadInput, match="input size"):
        activation_stds(nn.Linear(4, 4))
    with pytest.raises(BadInput, match="could not run"):
        activation_stds(nn.Linear(4, 4), input_size=(1, 5))


def test_activation_stds_with_images_from_a_folder(tmp_path) -> None:
    from PIL import Image

    from engine.use.init_lab import images_batch

    for number, color in enumerate([(255, 0, 0), (0, 128, 255), (20, 200, 20)]):
        Image.new("RGB", (48 + number * 10, 40), color).save(tmp_path / f"img{number}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    batch = images_batch(str(tmp_path), (32, 32), limit=2)
    assert batch.shape == (2, 3, 32, 32)
    red = (1.0 - 0.485) / 0.229
    assert batch[0, 0].mean().item() == pytest.approx(red, rel=1e-3)
    records = activation_stds(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), batch=batch)
    assert [r.shape for r in records] == [(2, 4, 30, 30), (2, 4, 30, 30)]
    with pytest.raises(BadInput, match="no folder"):
        images_batch(str(tmp_path / "missing"), (32, 32))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="no images"):
        images_batch(str(tmp_path / "empty"), (32, 32))


def _first_layer_with_nonfinite_outputs(depth: int, activation: str) -> tuple[int | None, list[float]]:
    """The lab's MLP in plain torch: N(0,1) weights, no bias; the first layer whose outputs hold
    inf/nan, and every earlier layer's output std (taken in float64)."""
    act = {"relu": torch.relu, "none": lambda x: x}[activation]
    generator = torch.Generator().manual_seed(0)
    weight = torch.empty(256, 256)
    stds = []
    with torch.no_grad():
        x = torch.randn(256, 256, generator=generator)
        for layer in range(depth):
            nn.init.normal_(weight, 0.0, 1.0, generator=generator)
            x = act(x @ weight.T)
            if not torch.isfinite(x).all():
                return layer, stds
            stds.append(x.double().std().item())
    return None, stds


@pytest.mark.parametrize("activation", ["relu", "none"])
def test_the_first_nonfinite_layer_is_where_the_outputs_stop_being_finite(activation: str) -> None:
    # float32's std squares its values and overflows a few layers before the outputs do
    expected, stds = _first_layer_with_nonfinite_outputs(60, activation)
    result = run_lab(LabConfig(depth=60, width=256, activation=activation, init="normal", gain=None))
    assert expected is not None and result.first_nonfinite_layer == expected
    assert result.stds == pytest.approx(stds, rel=1e-5)
    assert max(result.stds) > 1e19  # past where float32's sum of squares overflows
    assert f"layer {expected} output" in result.verdict()


def test_a_real_model_layer_is_not_finite_only_when_its_outputs_are_not() -> None:
    model = nn.Sequential(nn.Linear(8, 8, bias=False), nn.Linear(8, 8, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(1e20)  # outputs ~1e21: finite, but their squares overflow float32
        model[1].weight.fill_(1e30)
    records = activation_stds(model, input_size=(1, 8), batch_size=4)
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    assert records[0].std == pytest.approx(model[0](x).double().std().item(), rel=1e-5)
    assert first_nonfinite(records) is records[1]
