"""Partial loading: matching tensors load, the rest is reported by name; saving round-trips."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import load_file
from torch import nn

from engine.edit.partial import load_partial, strip_prefixes
from engine.edit.save import save_weights
from engine.edit.workbench import Workbench
from engine.errors import BadInput


def _net(classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, classes),
    )


def test_changed_head_is_reported_mismatched_and_the_rest_loads(tmp_path):
    torch.manual_seed(0)
    old = _net(1000)
    path = tmp_path / "old.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in old.state_dict().items()}}, path)
    new = _net(10)
    head_before = new[4].weight.detach().clone()
    report = load_partial(new, path)
    assert report.counts() == {"matched": 7, "missing": 0, "unexpected": 0, "mismatched": 2}
    assert ("4.weight", (1000, 4), (10, 4)) in report.mismatched
    assert torch.equal(new[0].weight, old[0].weight)
    assert torch.equal(new[4].weight, head_before)
    assert "loaded 7 tensors" in report.summary()


def test_missing_and_unexpected_keys_are_named():
    src = {"0.weight": torch.ones(4, 3, 3, 3), "extra.bias": torch.zeros(2)}
    model = _net()
    report = load_partial(model, src)
    assert report.matched == ["0.weight"]
    assert report.unexpected == ["extra.bias"]
    assert "4.bias" in report.missing
    assert torch.equal(model[0].weight, torch.ones(4, 3, 3, 3))


def test_prefixes_are_stripped():
    assert list(strip_prefixes({"module._orig_mod.fc.weight": torch.zeros(1)})) == ["fc.weight"]


def test_by_order_maps_renamed_keys_with_a_warning():
    torch.manual_seed(0)
    old = _net()
    renamed = {f"net.layer{i}": v for i, v in enumerate(old.state_dict().values())}
    model = _net()
    by_name = load_partial(model, renamed)
    assert by_name.matched == [] and by_name.warnings
    report = load_partial(model, renamed, by_order=True)
    assert len(report.matched) == len(renamed) and report.renamed["0.weight"] == "net.layer0"
    assert any("by order" in w for w in report.warnings)
    assert torch.equal(model[4].weight, old[4].weight)


def test_load_partial_edit_is_undoable_and_refuses_useless_files(tmp_path):
    torch.manual_seed(0)
    donor = torchvision.models.resnet18().eval()
    save_weights(donor, tmp_path / "donor.safetensors")
    torch.manual_seed(1)
    bench = Workbench(model=torchvision.models.resnet18(num_classes=10).eval(), name="resnet18")
    before = {k: v.clone() for k, v in bench.model.state_dict().items()}
    summary = bench.apply({"op": "load_partial", "source": str(tmp_path / "donor.safetensors")})
    assert "2 shape-mismatched" in summary
    assert bench.last_load_report.mismatched[0][0] in ("fc.weight", "fc.bias")
    assert torch.equal(bench.model.conv1.weight, donor.conv1.weight)
    bench.undo()
    assert all(torch.equal(v, before[k]) for k, v in bench.model.state_dict().items())
    torch.save({"x.weight": torch.zeros(3)}, tmp_path / "useless.pth")
    with pytest.raises(BadInput, match="nothing in"):
        bench.apply({"op": "load_partial", "source": str(tmp_path / "useless.pth")})
    assert all(torch.equal(v, before[k]) for k, v in bench.model.state_dict().items())


def test_save_pth_loads_with_weights_only(tmp_path):
    model = _net()
    path = save_weights(model, tmp_path / "w.pth")
    state = torch.load(path, weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["w.pth"]


def test_save_safetensors_dedupes_shared_tensors(tmp_path):
    model = _net()
    model.tied = nn.Linear(4, 10)
    model.tied.weight = model[4].weight
    path = save_weights(model, tmp_path / "w.safetensors")
    tensors = load_file(str(path))
    assert "4.weight" in tensors and "tied.weight" not in tensors
    assert torch.equal(tensors["tied.bias"], model.tied.bias)
    fresh = _net()
    fresh.tied = nn.Linear(4, 10)
    assert load_partial(fresh, path).counts()["mismatched"] == 0


def test_save_refuses_meta_and_unknown_suffix(tmp_path):
    with torch.device("meta"):
        model = _net()
    with pytest.raises(BadInput, match="meta"):
        save_weights(model, tmp_path / "w.pth")
    with pytest.raises(BadInput, match=r"\.pth or \.safetensors"):
        save_weights(_net(), tmp_path / "w.txt")
    assert list(tmp_path.iterdir()) == []
