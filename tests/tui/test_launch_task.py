"""The launch form names the task of a detector and the data it reads, and refuses video models."""

from __future__ import annotations

import torch
import torchvision
from conftest import ScreenApp, screen_text, wait_for

from engine.edit.workbench import Workbench
from tui.screens.train.launch import LaunchScreen


async def _summary(model: torch.nn.Module, name: str) -> str:
    app = ScreenApp(LaunchScreen(Workbench(model=model, name=name)))
    async with app.run_test(size=(150, 44)) as pilot:
        await wait_for(pilot, lambda: "parameter groups" in screen_text(app), timeout=20)
        return " ".join(screen_text(app).split())


async def test_the_launch_form_names_a_detectors_task_and_data_format():
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=3)
    text = await _summary(model, "fasterrcnn_mobilenet_v3_large_320_fpn")
    assert "task: detection (box mAP)" in text and "COCO JSON with boxes" in text


async def test_the_launch_form_says_a_video_model_cannot_be_finetuned():
    text = await _summary(torchvision.models.video.r3d_18(), "r3d_18")
    assert "cannot finetune: VideoResNet is a video model" in text
