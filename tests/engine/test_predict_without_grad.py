"""Issue 20 audit: `predict` and a segmenter's `eval` run the model without autograd, as torchvision's
references evaluate (torch.inference_mode): a forward that records its graph keeps every
activation alive for a backward that never comes (a detector at 800 px, a batch of 16 images)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))


def _grad_modes(model: torch.nn.Module) -> list[bool]:
    """Record, at each forward of `model`, whether autograd was on."""
    seen: list[bool] = []
    model.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    return seen


def test_predict_runs_a_detector_and_a_classifier_without_autograd(tmp_path):
    from PIL import Image
    from task_models import tiny_detector

    from engine.use.inference import predict

    image = tmp_path / "a.png"
    Image.new("RGB", (64, 64), (90, 20, 200)).save(image)
    nn = torch.nn
    classifier = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    for model in (tiny_detector(), classifier):
        seen = _grad_modes(model)
        predict(model, [str(image)])
        assert seen == [False]


def test_a_segmenters_eval_runs_it_without_autograd(tmp_path):
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    from engine.train.config import TrainConfig
    from engine.train.sample_coco import write_masks
    from engine.train.tasks.segmentation import MaskFolder, mask_pairs, predict_masks

    root = write_masks(tmp_path, images=2, size=32, split=False)
    dataset = MaskFolder(mask_pairs(root)[0], 32)
    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)
    seen = _grad_modes(model)
    config = TrainConfig(batch_size=2, workers=0)
    shown = list(predict_masks(model, dataset, torch.device("cpu"), config, contextlib.nullcontext))
    assert seen == [False] and len(shown) == 1
