"""Weight statistics agree with plain torch (float64), count NaN/Inf, stay sensible around them."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.errors import BadInput
from engine.inspect.stats import (
    LayerStats,
    histogram,
    model_stats,
    module_stats,
    subtree_stats,
    tensor_stats,
)


def _reference(tensors: list[torch.Tensor]) -> dict[str, float]:
    """Plain torch, float64, finite values only."""
    x = torch.cat([t.detach().reshape(-1).double() for t in tensors])
    finite = x[torch.isfinite(x)]
    return {"mean": finite.mean().item(), "std": finite.std().item(), "min": finite.min().item(),
            "max": finite.max().item(), "zeros": (x == 0).double().mean().item(),
            "norm": finite.norm().item(), "nan": int(x.isnan().sum()), "inf": int(x.isinf().sum()),
            "count": x.numel()}


def _assert_close(stats: LayerStats, want: dict[str, float], rel: float = 1e-6) -> None:
    for key, value in want.items():
        got = getattr(stats, key)
        if key in ("nan", "inf", "count"):
            assert got == value, key
        else:
            scale = max(abs(value), want["std"], 1e-12)
            assert abs(got - value) <= rel * scale, (key, got, value)


def test_tensor_stats_small_and_large_agree_with_float64() -> None:
    torch.manual_seed(0)
    for t in (torch.randn(300) * 0.2 + 0.05, torch.randn(3_000_000) * 0.02 - 0.001):
        t[::7] = 0.0
        _assert_close(tensor_stats(t), _reference([t]))
        stats = tensor_stats(t)
        assert stats.zero_count == int((t == 0).sum()) and stats.nan == stats.inf == 0


def test_nan_and_inf_are_counted_and_the_rest_stays_sensible() -> None:
    torch.manual_seed(1)
    for size in (1000, 200_000):
        t = torch.randn(size)
        t[3] = float("nan")
        t[10] = float("inf")
        t[11] = float("-inf")
        stats = tensor_stats(t)
        assert (stats.nan, stats.inf, stats.count) == (1, 2, size)
        assert all(math.isfinite(v) for v in (stats.mean, stats.std, stats.min, stats.max,
                                              stats.norm))
        _assert_close(stats, _reference([t]))

    all_nan = tensor_stats(torch.full((5,), float("nan")))
    assert all_nan.nan == 5 and math.isnan(all_nan.mean) and all_nan.count == 5


def test_precision_when_values_sit_far_from_zero() -> None:
    torch.manual_seed(2)
    t = 1.0 + 1e-4 * torch.randn(500_000)  # a norm layer's weights: mean 1, tiny spread
    stats = tensor_stats(t)
    assert stats.std == pytest.approx(_reference([t])["std"], rel=1e-6)
    assert tensor_stats(torch.ones(100_000)).std == 0.0


def test_half_precision_and_float64_tensors() -> None:
    torch.manual_seed(3)
    for t in (torch.randn(100_000).half(), torch.randn(100_000).bfloat16(),
              torch.randn(70_000, dtype=torch.float64)):
        _assert_close(tensor_stats(t), _reference([t]), rel=1e-5)


def test_model_stats_agree_with_plain_torch_on_a_real_model() -> None:
    import torchvision

    torch.manual_seed(4)
    model = torchvision.models.resnet18()
    with torch.no_grad():
        model.layer2[0].conv1.weight[0, 0, 0, 0] = float("nan")
        model.fc.bias[:3] = float("inf")
    stats = model_stats(model)
    with_params = [p for p, m in model.named_modules() if list(m.parameters(recurse=False))]
    assert list(stats) == with_params
    for path in with_params:
        own = list(model.get_submodule(path).parameters(recurse=False))
        _assert_close(stats[path], _reference(own))
    assert stats["layer2.0.conv1"].nan == 1 and stats["fc"].inf == 3
    assert stats["conv1"].nan == 0 and math.isfinite(stats["fc"].mean)


def test_module_and_subtree_stats() -> None:
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(300, 200), nn.ReLU(), nn.Sequential(nn.Linear(200, 10)))
    _assert_close(module_stats(model), _reference(list(model.parameters())))
    assert module_stats(model[1]) is None
    assert module_stats(model, recurse=False) is None
    tree = subtree_stats(model)
    assert set(tree) == {"", "0", "2", "2.0"}
    _assert_close(tree["2"], _reference(list(model[2].parameters())))
    assert tree[""].count == sum(p.numel() for p in model.parameters())


def test_subtree_stats_combine_exactly_around_nan_and_tight_values() -> None:
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(400, 300), nn.LayerNorm(300), nn.Linear(300, 2))
    with torch.no_grad():
        model[0].weight[5, 7] = float("nan")
        model[1].weight.copy_(1.0 + 1e-5 * torch.randn(300))  # mean 1, tiny spread
        model[1].bias.fill_(1.0)
    tree = subtree_stats(model)
    for path in ("", "0", "1", "2"):
        _assert_close(tree[path], _reference(list(model.get_submodule(path).parameters())))
    assert tree[""].nan == 1 and tree["1"].std == pytest.approx(
        _reference(list(model[1].parameters()))["std"], rel=1e-9)


def test_shared_weights_are_read_once() -> None:
    a = nn.Linear(4, 4)
    model = nn.Sequential(a, nn.ReLU(), a)
    stats = model_stats(model)
    assert set(stats) == {"0", "2"} and stats["0"] == stats["2"]
    assert subtree_stats(model)[""].count == 20


def test_histogram_counts_finite_values() -> None:
    torch.manual_seed(6)
    t = torch.randn(10_000)
    t[:5] = float("nan")
    t[5] = float("inf")
    counts, edges = histogram(t, bins=20)
    assert len(counts) == 20 and len(edges) == 21 and sum(counts) == 10_000 - 6
    finite = t[torch.isfinite(t)]
    assert edges[0] == pytest.approx(finite.min().item()) and edges[-1] == pytest.approx(
        finite.max().item())
    assert counts == torch.histc(finite, 20, edges[0], edges[-1]).long().tolist()
    flat_counts, flat_edges = histogram(torch.full((7,), 2.0), bins=4)
    assert sum(flat_counts) == 7 and flat_edges[0] < 2.0 < flat_edges[-1]
    with pytest.raises(BadInput, match="bins"):
        histogram(t, bins=0)


def test_meta_tensors_have_no_statistics() -> None:
    with torch.device("meta"):
        layer = nn.Linear(4, 4)
    with pytest.raises(BadInput, match="meta device"):
        module_stats(layer)
    with pytest.raises(BadInput, match="meta device"):
        model_stats(layer)
    with pytest.raises(BadInput, match="meta device"):
        histogram(layer.weight)
