"""`ptm-tui diff A B`: what finetuning changed, layer by layer, from real weights files."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision import models

from tui.cli.main import main


def _digits_batch(count: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of scikit-learn's digits as 3-channel 32x32 images, with their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images[:count], dtype=torch.float32) / 16.0
    images = torch.nn.functional.interpolate(images[:, None], size=32).repeat(1, 3, 1, 1)
    return images, torch.tensor(digits.target[:count])


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """resnet18 (seeded) saved before and after a few SGD steps on digits with layer1 frozen."""
    folder = tmp_path_factory.mktemp("finetune")
    torch.manual_seed(0)
    model = models.resnet18(num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(before, folder / "before.pth")
    model.layer1.requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    images, labels = _digits_batch()
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    job = folder / "jobs" / "20261130-120000-resnet18"
    (job / "checkpoints").mkdir(parents=True)
    (job / "spec.toml").write_text('[model]\nname = "resnet18"\n')
    after = model.state_dict()
    torch.save({"model": after, "epoch": 1}, job / "checkpoints" / "epoch-0001.pt")
    return folder, job, before, after


def _reference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """||B-A||/||A|| and cos(A, B) computed directly with torch."""
    a, b = a.double().flatten(), b.double().flatten()
    relative = float(torch.linalg.vector_norm(b - a) / torch.linalg.vector_norm(a))
    return relative, float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_a_frozen_layer_did_not_move_and_the_head_did(finetuned, capsys, monkeypatch):
    folder, job, before, after = finetuned
    monkeypatch.setenv("PTM_HOME", str(folder))  # the job is found by its id
    assert main(["diff", str(folder / "before.pth"), job.name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    tensors = {t["tensor"]: t for t in report["tensors"]}
    frozen = [n for n, p in models.resnet18().named_parameters() if n.startswith("layer1.")]
    assert frozen and all(tensors[n]["relative_change"] == 0.0 for n in frozen)
    zero = [n for n in frozen if not before[n].any()]  # BatchNorm biases start at 0: no angle
    assert zero and all(tensors[n]["cosine"] is None for n in zero)
    assert all(tensors[n]["cosine"] == pytest.approx(1.0, abs=1e-12) for n in frozen if n not in zero)
    layers = {layer["layer"]: layer for layer in report["layers"]}
    assert layers["layer1.0.conv1"]["relative_change"] == 0.0
    relative, cosine = _reference(torch.cat([before["fc.weight"].flatten(), before["fc.bias"]]),
                                  torch.cat([after["fc.weight"].flatten(), after["fc.bias"]]))
    assert relative > 0
    assert layers["fc"]["relative_change"] == pytest.approx(relative, rel=1e-9)
    assert layers["fc"]["cosine"] == pytest.approx(cosine, rel=1e-9)
    assert layers["fc"]["tensors"] == ["fc.weight", "fc.bias"]
    assert report["only_in_a"] == [] and report["only_in_b"] == []
    assert "layer1.0.bn1.num_batches_tracked" in report["not_compared"]


def test_the_table_names_each_layer_and_the_tensors_only_one_side_has(finetuned, tmp_path, capsys):
    from safetensors.torch import save_file

    folder, _, before, after = finetuned
    other = {k: v.contiguous() for k, v in after.items() if k != "fc.bias"}
    other["fc.weight"] = torch.zeros(3, 512)
    other["extra.scale"] = torch.ones(2)
    save_file(other, tmp_path / "b.safetensors")
    assert main(["diff", str(folder / "before.pth"), str(tmp_path / "b.safetensors")]) == 0
    out = capsys.readouterr().out
    relative, _ = _reference(before["layer4.1.conv2.weight"], after["layer4.1.conv2.weight"])
    row = next(line for line in out.splitlines() if line.split()[:1] == ["layer4.1.conv2"])
    assert row.split()[1] == f"{after['layer4.1.conv2.weight'].numel():,}"
    assert row.split()[2] == f"{relative:.4g}"
    assert "only in A (1): fc.bias" in out and "only in B (1): extra.scale" in out
    assert "shape differs: fc.weight [10, 512] -> [3, 512]" in out


def test_what_names_no_weights_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    assert main(["diff", "no_such_thing", "resnet18"]) == 2
    assert "'no_such_thing' names no weights" in capsys.readouterr().err
    (tmp_path / "notes").mkdir()
    torch.save({"w": torch.ones(1)}, tmp_path / "a.pth")
    assert main(["diff", str(tmp_path / "a.pth"), str(tmp_path / "notes")]) == 2
    assert "only a job folder" in capsys.readouterr().err
