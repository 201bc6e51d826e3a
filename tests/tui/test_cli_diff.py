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


def _cat(state: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    return torch.cat([state[n].flatten() for n in names])


def test_parameters_and_running_statistics_are_reported_apart(finetuned, capsys, monkeypatch):
    folder, job, before, after = finetuned
    monkeypatch.setenv("PTM_HOME", str(folder))
    assert main(["diff", str(folder / "before.pth"), job.name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    layers = {layer["layer"]: layer for layer in report["layers"]}
    buffers = {layer["layer"]: layer for layer in report["buffers"]}
    relative, cosine = _reference(_cat(before, ["bn1.weight", "bn1.bias"]),
                                  _cat(after, ["bn1.weight", "bn1.bias"]))
    assert layers["bn1"]["tensors"] == ["bn1.weight", "bn1.bias"]
    assert layers["bn1"]["relative_change"] == pytest.approx(relative, rel=1e-9)
    assert layers["bn1"]["cosine"] == pytest.approx(cosine, rel=1e-9)
    stats = ["bn1.running_mean", "bn1.running_var"]
    relative_stats, _ = _reference(_cat(before, stats), _cat(after, stats))
    assert buffers["bn1"]["tensors"] == stats
    assert buffers["bn1"]["relative_change"] == pytest.approx(relative_stats, rel=1e-9)
    assert relative_stats > 10 * relative  # what the running statistics hid before
    learned = [name for name, _ in models.resnet18(num_classes=10).named_parameters()]
    total, _ = _reference(_cat(before, learned), _cat(after, learned))
    assert report["total"]["values"] == sum(before[n].numel() for n in learned)
    assert report["total"]["relative_change"] == pytest.approx(total, rel=1e-9)
    kinds = {t["tensor"]: t["kind"] for t in report["tensors"]}
    assert kinds["bn1.running_var"] == "buffer" and kinds["bn1.weight"] == "parameter"


def test_a_change_from_zero_is_reported_as_such(finetuned, capsys, monkeypatch):
    folder, job, before, after = finetuned
    monkeypatch.setenv("PTM_HOME", str(folder))
    assert main(["diff", str(folder / "before.pth"), job.name, "--json"]) == 0
    tensors = {t["tensor"]: t for t in json.loads(capsys.readouterr().out)["tensors"]}
    name = "layer2.0.bn1.bias"  # BatchNorm biases start at 0 and this one trained
    assert not before[name].any() and after[name].any()
    assert tensors[name]["relative_change"] == "from zero" and tensors[name]["cosine"] is None
    moved = float(torch.linalg.vector_norm((after[name] - before[name]).double()))
    assert tensors[name]["change"] == pytest.approx(moved, rel=1e-9)
    torch.save({"head.weight": torch.zeros(3, 2), "head.bias": torch.zeros(3)}, folder / "zero.pth")
    torch.save({"head.weight": torch.full((3, 2), 0.5), "head.bias": torch.zeros(3)},
               folder / "moved.pth")
    assert main(["diff", str(folder / "zero.pth"), str(folder / "moved.pth")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["head"])
    assert row.split()[1:] == ["9", "from", "0", "-"]


def test_the_newest_checkpoint_is_the_latest_position_not_the_last_name(finetuned, tmp_path,
                                                                         capsys, monkeypatch):
    folder, _, before, after = finetuned
    job = tmp_path / "jobs" / "stopped-mid-epoch"
    (job / "checkpoints").mkdir(parents=True)
    (job / "spec.toml").write_text('[model]\nname = "resnet18"\n')
    later = {k: v.clone() for k, v in after.items()}
    later["fc.weight"] += 1.0
    torch.save({"model": after, "epoch": 1}, job / "checkpoints" / "epoch-0001.pt")
    torch.save({"model": later, "epoch": 1, "step": 6}, job / "checkpoints" / "epoch-0001-step-00006.pt")
    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    assert main(["diff", str(folder / "before.pth"), job.name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["b"].endswith("epoch-0001-step-00006.pt")
    fc = next(layer for layer in report["layers"] if layer["layer"] == "fc")
    relative, _ = _reference(_cat(before, ["fc.weight", "fc.bias"]), _cat(later, ["fc.weight", "fc.bias"]))
    assert fc["relative_change"] == pytest.approx(relative, rel=1e-9)


@pytest.mark.timeout(300)
def test_a_job_alone_is_compared_from_its_seeded_start(home, tmp_path, digits, capsys):
    from engine.edit.recipe import Recipe, load
    from engine.jobs.launch import create_job, launch

    train = {"data": str(digits), "image_size": 12, "batch_size": 32, "epochs": 1, "workers": 0,
             "optimizer": "sgd", "lr": 0.1, "seed": 0}
    head_only = [{"op": "replace_head", "num_classes": 10}, {"op": "freeze", "target": ""},
                 {"op": "unfreeze", "target": "fc"}]
    job = create_job(Recipe(model={"name": "resnet18", "weights": "none", "seed": 3}, edits=head_only,
                            train=train), job_id="from-none")
    assert launch(job).wait(timeout=240) == 0, (job / "log.txt").read_text()[-2000:]
    assert main(["diff", "from-none", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["a"].startswith("from-none start (resnet18@none, seed 3")
    assert report["b"].endswith("epoch-0001.pt")
    tensors = {t["tensor"]: t for t in report["tensors"]}
    frozen = [n for n in tensors if tensors[n]["kind"] == "parameter" and not n.startswith("fc.")]
    # the random init of 11M frozen values comes back to the bit: the start is the real one
    assert len(frozen) > 50 and all(tensors[n]["relative_change"] == 0.0 for n in frozen)
    from engine.edit.recipe import build
    from engine.models.weights.safe_load import read_state_dict

    start = build(load(job / "spec.toml")).model.state_dict()
    trained = read_state_dict(job / "checkpoints" / "epoch-0001.pt")
    head = ["fc.weight", "fc.bias"]
    relative, cosine = _reference(_cat(start, head), _cat(trained, head))
    fc = next(layer for layer in report["layers"] if layer["layer"] == "fc")
    assert relative > 0 and fc["relative_change"] == pytest.approx(relative, rel=1e-9)
    assert fc["cosine"] == pytest.approx(cosine, rel=1e-9)
    assert main(["diff", "resnet18"]) == 2
    assert "needs a second set of weights" in capsys.readouterr().err


def test_a_job_alone_without_a_checkpoint_says_so_before_building_anything(tmp_path, capsys,
                                                                             monkeypatch):
    job = tmp_path / "jobs" / "queued-job"
    (job / "checkpoints").mkdir(parents=True)
    (job / "spec.toml").write_text('[model]\nname = "resnet18"\nweights = "none"\nseed = 0\n')
    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    assert main(["diff", "queued-job"]) == 2
    assert "job queued-job has no checkpoint yet" in capsys.readouterr().err
