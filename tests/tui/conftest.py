"""Shared helpers for the TUI tests: models, an app on a ready workbench, the screen as text."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App


@pytest.fixture(autouse=True)
def no_hidden_errors(request, monkeypatch):
    """A bug that the app's guard turns into a toast (tui/guard.py) still fails the test that met
    it, unless the test is marked `reports_errors` (it provokes them on purpose)."""
    from tui.guard import ErrorReporter

    seen: list[str] = []
    report = ErrorReporter.report

    def counted(self, app, error, where):
        seen.append(f"{where}: {type(error).__name__}: {error}")
        report(self, app, error, where)

    monkeypatch.setattr(ErrorReporter, "report", counted)
    yield
    if request.node.get_closest_marker("reports_errors") is None:
        assert not seen, "the app reported errors:\n" + "\n".join(seen)


def screen_text(app: App) -> str:
    """Return what the terminal shows right now, one line per row."""
    update = app.screen._compositor.render_update(full=True)
    return "\n".join("".join(seg.text for strip in line for seg in strip) for line in update.strips)


def make_workbench(model_name: str = "resnet18"):
    """A seeded random-init torchvision model in a Workbench (no weights file needed)."""
    import torch
    import torchvision

    from engine.edit.workbench import Workbench

    torch.manual_seed(0)
    return Workbench(model=getattr(torchvision.models, model_name)(), name=model_name)


def deep_model(blocks: int = 100, per_block: int = 10, layers: int = 10):
    """A synthetic model with blocks*per_block*(layers+1)+blocks+1 modules (11,101 by default)."""
    from torch import nn

    def block() -> nn.Module:
        return nn.Sequential(*[nn.Sequential(*[nn.Linear(4, 4) for _ in range(layers)])
                               for _ in range(per_block)])

    return nn.Sequential(*[block() for _ in range(blocks)])


async def wait_for(pilot, condition, timeout: float = 20.0, step: float = 0.05) -> None:
    """Pause the pilot until `condition()` is true (fail after `timeout` seconds)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(step)


@pytest.fixture
def no_cache_no_keymap(tmp_path, monkeypatch):
    """No weights file in the cache (an empty TORCH_HOME) and no user keymap."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PTM_KEYMAP", str(tmp_path / "no-keys.toml"))


async def catalog_filtered(pilot, text: str):
    """Wait for the catalog's model list, type `text` into its filter, tab into the table and
    return the catalog screen."""
    from tui.screens.catalog.catalog import CatalogScreen

    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, CatalogScreen) and app.screen.models and not app.screen.reading_list,
        timeout=60,
    )
    await pilot.press(*text, "tab")
    return app.screen


@pytest.fixture
def resnet18_workbench():
    """A seeded random-init resnet18 in a Workbench."""
    return make_workbench("resnet18")



class ScreenApp(App[None]):
    """A tiny app that shows one screen (with the app flags screens read) and records what it
    was dismissed with."""

    def __init__(self, screen, ascii_only: bool = False, trust_code: bool = False) -> None:
        super().__init__()
        self.first = screen
        self.ascii_only = ascii_only
        self.trust_code = trust_code
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(self.first, callback=self.results.append)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh folder with a short path (/tmp/ptm-xxxxxxxx): a screen that shows a file's path
    keeps it on one line, however deep pytest's tmp_path is (pytest-xdist adds a level)."""
    folder = Path(tempfile.mkdtemp(prefix="ptm-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def form_error(form) -> str:
    """The launch form's error line as text (what is wrong, or "not launched: ..." after ctrl+l)."""
    return str(form.query_one("#launch-error").render())


def write_small_cnn(folder: Path) -> str:
    """Write a small CNN as a model file and return its model name ("path.py:small")."""
    model = folder / "small.py"
    model.write_text("from torch import nn\n\n\ndef small(num_classes=10):\n"
                     "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(),\n"
                     "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
                     " nn.Linear(8, num_classes))\n")
    return f"{model}:small"
