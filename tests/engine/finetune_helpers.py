"""Shared pieces of the finetune tests: a tiny real CNN, digits folders, recipes, waiting."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.train.events import Events


class RecordedEvents(Events):
    """Events that keep what the loop reports: log lines, epoch records and step losses."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.records: list[dict[str, Any]] = []
        self.losses: list[float] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    def epoch(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        self.losses.append(loss)


class TinyNet(nn.Module):
    """A small CNN (two conv blocks with BatchNorm, a Linear head) that trains in seconds."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class HeavyNet(TinyNet):
    """TinyNet with a big frozen, unused layer: its checkpoints take a while to write."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes)
        self.memory = nn.Linear(4096, 4096).requires_grad_(False)
        self.fc = nn.Linear(32, num_classes)


class SlowNet(TinyNet):
    """TinyNet whose training steps take at least 20 ms: a stop lands mid-epoch, not at its end."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            time.sleep(0.02)
        return self.fc(self.features(x))


def digits_train(data: Any, **extra: Any) -> dict[str, Any]:
    """Return a [train] table for the 12 px digits: one epoch of Adam at lr 0.01, batch 32, no
    loader workers; `extra` keys override or add."""
    return {"data": str(data), "image_size": 12, "batch_size": 32, "epochs": 1, "workers": 0,
            "optimizer": "adam", "lr": 0.01, **extra}


def digits_config(data: Any, **extra: Any) -> Any:
    """Return the TrainConfig of digits_train(data, **extra)."""
    from engine.train.config import train_config

    return train_config(digits_train(data, **extra))


def tiny_net(num_classes: int = 10, seed: int = 0) -> nn.Module:
    """Return the tiny CNN, seeded."""
    torch.manual_seed(seed)
    return TinyNet(num_classes)


def write_tiny(folder: Path, heavy: bool = False, slow: bool = False) -> str:
    """Write the tiny CNN as a file and return its model name ("path.py:TinyNet")."""
    path = folder / "tiny.py"
    source = "\n\n".join(inspect.getsource(c) for c in (TinyNet, HeavyNet, SlowNet))
    path.write_text("import time\n\nimport torch\nfrom torch import nn\n\n\n" + source)
    if heavy:
        return f"{path}:HeavyNet"
    return f"{path}:SlowNet" if slow else f"{path}:TinyNet"


def write_recipe(path: Path, model: str, train: dict[str, Any],
                 edits: list[dict[str, Any]] | None = None) -> Path:
    """Write a recipe with a [train] table and return its path."""
    from engine.edit.recipe import Recipe, dumps

    edits = [{"op": "replace_head", "num_classes": 10}] if edits is None else edits
    path.write_text(dumps(Recipe(model={"name": model, "weights": "none", "seed": 0},
                                 edits=edits, train=train)))
    return path


def coco_train(coco: Path, **extra: Any) -> dict[str, Any]:
    """Return a [train] table for the drawn shapes in `coco` (its train.json and val.json): one
    epoch, batch 4, no loader workers; `extra` keys override or add."""
    return {"data": str(coco / "train.json"), "val_data": str(coco / "val.json"), "epochs": 1,
            "batch_size": 4, "workers": 0, **extra}


def train_with_task(model: nn.Module, config: Any, events: Any = None) -> Any:
    """Train `model` with its own task's data, loss and metric as `config` says; return the
    TrainResult."""
    from engine.train.loop import Trainer
    from engine.train.tasks import task_for

    task = task_for(model)
    return Trainer(model, config, task.build_datasets(config, None), task=task, events=events).run()


def segmenter_recipe(folder: Path, images: int) -> tuple[Path, Path]:
    """Write `images` drawn 48 px masks and a recipe that finetunes LRASPP (3 classes) on them for
    one epoch; return (the masks' folder, the recipe)."""
    from engine.train.sample_coco import write_masks

    root = write_masks(folder / "seg", images=images, size=48)
    recipe = write_recipe(folder / "seg.toml", "lraspp_mobilenet_v3_large",
                          {"data": str(root), "image_size": 48, "epochs": 1, "batch_size": 3, "workers": 0},
                          edits=[{"op": "replace_head", "num_classes": 3}])
    return root, recipe


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def finished_job(folder: Path, size: int = 12,
                 images: int = 120) -> tuple[Path, dict[str, Any], Path, str]:
    """Finetune the tiny CNN on digits for one epoch with `ptm-tui finetune` (a real job in
    folder/home); return (its newest checkpoint, that checkpoint's state, digits folder, model)."""
    import os
    import subprocess
    import sys

    from engine.train.checkpoint import newest_complete
    from engine.train.sample_data import write_digits

    digits = write_digits(folder / "digits", size=size, limit=images)
    model = write_tiny(folder)
    recipe = write_recipe(folder / "recipe.toml", model, {
        "data": str(digits), "image_size": size, "batch_size": 16, "epochs": 1, "workers": 0,
        "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01, "seed": 0})
    env = {**os.environ, "PTM_HOME": str(folder / "home"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "tui.cli.main", "finetune", str(recipe),
                           "--job-id", "trained", "--json"], capture_output=True, text=True,
                          timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    checkpoint, state = newest_complete(folder / "home" / "jobs" / "trained" / "checkpoints")
    return checkpoint, state, digits, model


def plain_probs(state_dict: dict[str, Any], image: Path, size: int) -> torch.Tensor:
    """The reference: the tiny CNN with `state_dict`, torchvision's transforms at `size` px."""
    from PIL import Image
    from torchvision import transforms as T

    model = TinyNet(10)
    model.load_state_dict(state_dict)
    model.eval()
    tf = T.Compose([T.Resize((size, size)), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    with torch.no_grad():
        return model(tf(Image.open(image).convert("RGB")).unsqueeze(0)).softmax(1)[0]
