"""Issue 18, item 1 in the TUI: `ptm-tui FILE`, the jobs screen's `o` and `W` never import the code
a file or job folder names. The refusal is shown (what code, --trust-code), the app keeps
running, and `ptm-tui --trust-code FILE` opens it."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import screen_text, wait_for
from textual.widgets import Input
from torch import nn

from engine.edit.save import save_weights
from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen

pytestmark = pytest.mark.timeout(120)
SIZE = (110, 34)
SOURCE = """
import pathlib
from torch import nn
pathlib.Path({marker!r}).write_text("imported")


class Net(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))
"""


class Net(nn.Module):
    """What the marker module defines too."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean((2, 3)))


@pytest.fixture
def attack(tmp_path):
    """(the model name a stranger's file carries, the marker its import would write)."""
    marker = tmp_path / "marker.txt"
    (tmp_path / "evil.py").write_text(SOURCE.format(marker=str(marker)))
    return f"{tmp_path / 'evil.py'}:Net", marker


def _meaning(name: str) -> dict:
    return {
        "recipe": {"model": {"name": name, "weights": "none", "seed": 0}, "edit": []},
        "classes": ["cat", "dog"],
        "resize": [16, 16],
        "crop": None,
        "input_size": [3, 16, 16],
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "interpolation": "bilinear",
        "antialias": True,
    }


def _toasts(app) -> str:
    return "\n".join(n.message for n in app._notifications)


async def test_opening_a_file_that_names_code_shows_the_refusal_and_keeps_running(tmp_path, attack):
    name, marker = attack
    weights = save_weights(Net(), tmp_path / "downloaded.pth", _meaning(name))
    app = PtmApp(model=str(weights))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: "names code to run" in _toasts(app), timeout=60)
        await pilot.pause()
        toasts = _toasts(app)
        assert name in toasts and "--trust-code" in toasts
        assert "could not open" in screen_text(app)
        assert isinstance(app.screen, ExplorerScreen) and app.screen.workbench is None
    assert not marker.exists()


async def test_with_trust_code_the_tui_opens_the_file_s_model(tmp_path, attack):
    name, marker = attack
    weights = save_weights(Net(), tmp_path / "mine.safetensors", _meaning(name))
    app = PtmApp(model=str(weights), trust_code=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ExplorerScreen) and app.screen.workbench is not None,
            timeout=60,
        )
        assert app.screen.workbench.meaning["classes"] == ["cat", "dog"]
    assert marker.exists()


async def test_o_on_a_job_whose_recipe_names_code_shows_the_refusal(tmp_path, attack, monkeypatch):
    from engine.edit.recipe import Recipe, dumps
    from engine.train.checkpoint import save_checkpoint
    from tui.screens.jobs.jobs import JobsScreen

    name, marker = attack
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    job = tmp_path / "home" / "jobs" / "stranger"
    job.mkdir(parents=True)
    (job / "spec.toml").write_text(dumps(Recipe(model={"name": name, "weights": "none", "seed": 0})))
    checkpoint = save_checkpoint(job / "checkpoints", {"model": Net().state_dict(), "epoch": 1}, epoch=1)
    (job / "status.json").write_text(json.dumps({"status": "done", "checkpoint": str(checkpoint)}))
    app = PtmApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await app.push_screen(JobsScreen())
        await wait_for(pilot, lambda: "stranger" in screen_text(app), timeout=30)
        await pilot.press("o")
        await wait_for(pilot, lambda: "names code to run" in _toasts(app), timeout=60)
        assert "spec.toml" in _toasts(app) and "--trust-code" in _toasts(app)
        assert isinstance(app.screen, ExplorerScreen) and app.screen.workbench is None
    assert not marker.exists()


async def test_W_of_a_file_that_names_code_loads_its_tensors_only(tmp_path, attack):
    from engine.edit.workbench import Workbench

    name, marker = attack
    torch.manual_seed(3)
    saved = Net()
    weights = save_weights(saved, tmp_path / "downloaded.safetensors", _meaning(name))
    workbench = Workbench(model=Net(), name="mine")
    app = PtmApp(workbench=workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        await pilot.press("W")
        await wait_for(pilot, lambda: app.screen.query("#source"))
        app.screen.query_one("#source", Input).value = str(weights)
        await pilot.press("enter")
        await wait_for(pilot, lambda: workbench.meaning is not None, timeout=30)
    assert torch.equal(workbench.model.fc.weight, saved.fc.weight)
    assert workbench.meaning["classes"] == ["cat", "dog"]
    assert not marker.exists()


async def test_e_on_a_job_whose_recipe_names_code_says_why_it_cannot_evaluate(tmp_path, attack):
    from conftest import ScreenApp
    from PIL import Image

    from engine.edit.recipe import Recipe, dumps
    from engine.train.checkpoint import save_checkpoint
    from tui.screens.jobs.job_eval import JobEvalScreen

    name, marker = attack
    for split in ("train", "val"):
        for label in ("cat", "dog"):
            (tmp_path / "data" / split / label).mkdir(parents=True)
            Image.new("RGB", (16, 16)).save(tmp_path / "data" / split / label / "0.png")
    job = tmp_path / "stranger"
    job.mkdir()
    recipe = Recipe(
        model={"name": name, "weights": "none", "seed": 0},
        train={"data": str(tmp_path / "data"), "image_size": 16},
    )
    (job / "spec.toml").write_text(dumps(recipe))
    save_checkpoint(job / "checkpoints", {"model": Net().state_dict(), "epoch": 1}, epoch=1)
    app = ScreenApp(JobEvalScreen("stranger", str(job)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "cannot evaluate" in screen_text(app), timeout=60)
        text = str(app.screen.query_one("#eval-summary").render())
        assert f"names code to run: {name}" in text and "--trust-code" in text, text
    assert not marker.exists()


def test_ptm_tui_takes_trust_code_and_it_is_off_by_default():
    from tui.cli.main import build_tui_parser

    assert build_tui_parser().parse_args(["--trust-code", "mine.pth"]).trust_code is True
    assert build_tui_parser().parse_args(["mine.pth"]).trust_code is False
