"""The launch form's memory line (tui/screens/train/launch_memory.py): the estimate in a worker."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import pytest
import torch
from finetune_helpers import tiny_net
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Input, Static
from torch import nn

from engine.train.memory_estimate import gib
from tui.screens.train.launch_memory import memory_line, show_memory_estimate

TABLE = {"data": "digits", "image_size": 12, "batch_size": 8, "optimizer": "adam"}


def test_the_line_gives_the_peak_and_says_it_fits():
    line = memory_line(tiny_net(), {}, TABLE)
    assert line.startswith("one step ≈ ") and "at batch 8 (fp32 on cpu" in line
    assert line.endswith("free: it fits")


def test_a_batch_too_big_for_the_ram_warns_with_the_largest_that_fits():
    line = memory_line(tiny_net(), {}, {**TABLE, "batch_size": 65536, "image_size": 4096, "force": True})
    assert "warning: batch_size = 65536 needs about" in line or "even batch_size = 1" in line


class Form(Screen):
    def __init__(self, table, model, processes="1"):
        super().__init__()
        self.workbench = SimpleNamespace(model=model, meta={})
        self.table = table
        self.processes = processes

    def compose(self) -> ComposeResult:
        yield Static("", id="launch-memory")
        yield Input(self.processes, id="launch-nproc")


async def _shown(table, model=None, processes="1") -> str:
    app = App()
    async with app.run_test() as pilot:
        form = Form(table, model or tiny_net(), processes)
        await app.push_screen(form)
        show_memory_estimate(form)
        await form.workers.wait_for_complete()
        await pilot.pause()
        return str(form.query_one("#launch-memory", Static).render())


async def test_the_worker_writes_the_line_into_the_form():
    assert "free: it fits" in await _shown(TABLE)


async def test_a_model_that_cannot_take_the_size_says_why_the_estimate_is_missing():
    fixed = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 12 * 12, 10))
    shown = await _shown({**TABLE, "image_size": 16}, fixed)
    assert shown.startswith("no memory estimate: cannot estimate the memory of a step on 3x16x16 images")


async def test_the_forms_torchrun_processes_add_ddps_gradient_buckets():
    alone = await _shown(TABLE)
    ranks = await _shown(TABLE, processes="2")
    assert "DDP buckets" not in alone and "; DDP buckets " in ranks
    trains = 4 * sum(p.numel() for p in tiny_net().parameters())
    assert f"DDP buckets {gib(trains)}" in ranks


def test_a_gpu_not_here_with_amp_auto_says_bf16_was_taken():

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    line = memory_line(tiny_net(), {}, {**TABLE, "device": "cuda", "amp": "auto"})
    assert "(bf16 on cuda" in line and line.endswith("not on this machine; amp auto taken as bf16 there")
    assert "taken as" not in memory_line(tiny_net(), {}, {**TABLE, "device": "cuda", "amp": "fp16"})
