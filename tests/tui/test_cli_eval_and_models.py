"""Issue 18, item 7: `eval --data ROOT` on a finetune's data root (train/ and val/) evaluates val/ and
says so, as the TUI's `e` does; `models NAME` lists what `models --filter NAME` lists."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from engine.edit.save import save_weights
from tui.cli.main import main

pytestmark = pytest.mark.timeout(300)
CLASSES = ["cat", "dog"]
SIDE = 32


@pytest.fixture
def saved(tmp_path):
    """squeezenet1_1 with a 2-class head, saved with its recipe, class names and preprocessing."""
    from torchvision import models

    torch.manual_seed(0)
    model = models.squeezenet1_1(num_classes=2)
    meaning = {
        "recipe": {
            "model": {"name": "squeezenet1_1", "weights": "none", "seed": 0},
            "edit": [{"op": "replace_head", "num_classes": 2}],
        },
        "classes": CLASSES,
        "resize": [SIDE, SIDE],
        "crop": None,
        "input_size": [3, SIDE, SIDE],
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "bilinear",
        "antialias": True,
    }
    return save_weights(model, tmp_path / "net.pth", meaning), model


@pytest.fixture
def root(tmp_path):
    """A finetune's data root: train/ (4 images a class) and val/ (3 images a class)."""
    generator = torch.Generator().manual_seed(1)
    for split, count in (("train", 4), ("val", 3)):
        for name in CLASSES:
            folder = tmp_path / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = torch.randint(0, 256, (40, 40, 3), generator=generator, dtype=torch.uint8)
                Image.fromarray(pixels.numpy()).save(folder / f"{i}.png")
    return tmp_path / "data"


def _plain_accuracy(model, folder) -> float:
    """The reference: the model in plain torch over the folder, torchvision's transforms."""
    from torchvision import datasets
    from torchvision import transforms as T

    tf = T.Compose(
        [T.Resize((SIDE, SIDE)), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    )
    data = datasets.ImageFolder(str(folder), transform=tf)
    model.eval()
    with torch.no_grad():
        hits = sum(int(model(x[None]).argmax(1)) == y for x, y in data)
    return 100.0 * hits / len(data)


def test_eval_on_a_data_root_evaluates_its_val_folder_and_says_so(saved, root, capsys):
    path, model = saved
    assert main(["eval", str(path), "--data", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["data"] == str(root / "val") and result["images"] == 6  # not train's 8
    assert result["classes"] == CLASSES
    assert result["accuracy"] == pytest.approx(_plain_accuracy(model, root / "val"))
    assert f"evaluated on {root / 'val'}" in captured.err

    assert main(["eval", str(path), "--data", str(root / "train"), "--json"]) == 0  # as it is
    captured = capsys.readouterr()
    assert json.loads(captured.out)["images"] == 8 and "note" not in captured.err


def _names(argv: list[str], capsys) -> list[str]:
    assert main(argv) == 0
    return [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()]


def test_models_name_lists_what_filter_name_lists(capsys):
    by_name = _names(["models", "resnet", "--json"], capsys)
    assert by_name == _names(["models", "--filter", "resnet", "--json"], capsys)
    assert "resnet18" in by_name and all("resnet" in name for name in by_name)
    assert _names(["models", "resnet1*", "--json"], capsys) == ["resnet101", "resnet152", "resnet18"]


def test_models_name_and_a_different_filter_are_refused(capsys):
    assert main(["models", "resnet", "--filter", "vit"]) == 2
    assert "disagree" in capsys.readouterr().err
