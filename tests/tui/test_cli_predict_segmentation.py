"""Issue 20, item 4: `predict --out` on a finetuned segmentation model writes each pixel's class as a
PNG of class indices at the image's size (`--json` names it); it refused --out before, so predict
gave no mask at all. Checked against plain torchvision on the same weights and preprocessing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tui.cli.main import main

pytestmark = pytest.mark.timeout(300)
SIDE = 48
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@pytest.fixture
def segmenter(tmp_path):
    """LRASPP with a 3-class head (random init), saved with its recipe, class names and preprocessing."""
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    from engine.edit.save import save_weights

    torch.manual_seed(0)
    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3).eval()
    meaning = {
        "recipe": {
            "model": {"name": "lraspp_mobilenet_v3_large", "weights": "none", "seed": 0},
            "edit": [{"op": "replace_head", "num_classes": 3}],
        },
        "classes": ["background", "rectangle", "ellipse"],
        "resize": [SIDE, SIDE],
        "crop": None,
        "input_size": [3, SIDE, SIDE],
        "mean": MEAN,
        "std": STD,
        "interpolation": "bilinear",
        "antialias": True,
    }
    return save_weights(model, tmp_path / "seg.pth", meaning), model


def _plain_classes(model, image: Image.Image) -> torch.Tensor:
    """The reference: torchvision's transforms and the model's argmax, back at the image's size."""
    from torchvision.transforms import functional as F

    x = F.normalize(F.resize(F.pil_to_tensor(image).float() / 255, [SIDE, SIDE], antialias=True), MEAN, STD)
    with torch.no_grad():
        classes = model(x[None])["out"][0].argmax(0)
    size = (image.height, image.width)
    return torch.nn.functional.interpolate(classes[None, None].float(), size=size, mode="nearest")[0, 0]


def test_predict_out_writes_the_class_mask_at_the_images_size(segmenter, tmp_path, capsys):
    path, model = segmenter
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (30, 40, 3), generator=generator, dtype=torch.uint8)
    image = tmp_path / "street.png"
    Image.fromarray(pixels.numpy()).save(image)
    out = tmp_path / "masks"
    assert main(["predict", str(path), str(image), "--out", str(out), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    written = Image.open(said["mask"])
    assert said["mask"] == str(out / "street.pred.png") and written.size == (40, 30)
    got = torch.from_numpy(np.asarray(written).copy()).float()
    assert torch.equal(got, _plain_classes(model, Image.open(image).convert("RGB")))
    assert [item["label"] for item in said["top"]][:1] != [] and "class_map" not in said


def test_predict_out_refuses_a_lossy_mask_file_before_running(segmenter, tmp_path, capsys):
    path, _model = segmenter
    image = tmp_path / "a.png"
    Image.new("RGB", (20, 20)).save(image)
    assert main(["predict", str(path), str(image), "--out", str(tmp_path / "mask.jpg")]) == 2
    assert ".png" in capsys.readouterr().err and not (tmp_path / "mask.jpg").exists()
