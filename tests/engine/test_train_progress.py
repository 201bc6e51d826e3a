"""Progress the user sees: every step moves the bar (even with long log intervals), and a stop
says where it stopped the way the bar counts (1-based epoch of epochs)."""

from __future__ import annotations

import json
import math

import torch
from finetune_helpers import tiny_net

from engine.jobs.events import JobEvents
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.events import Events
from engine.train.loop import train
from engine.train.sample_data import write_digits


def _setup(tmp_path, **extra):
    torch.set_num_threads(1)
    data = write_digits(tmp_path / "digits", size=12, limit=200)
    config = train_config(
        {
            "data": str(data),
            "image_size": 12,
            "batch_size": 32,
            "epochs": 2,
            "workers": 0,
            "log_every": 20,
            "feature_cache": False,
            **extra,
        }
    )
    return config, build_datasets(config)


class Record(Events):
    def __init__(self):
        self.progress_seen, self.steps_seen = [], []

    def progress(self, epoch, step, steps):
        self.progress_seen.append((epoch, step, steps))

    def step(self, epoch, step, steps, loss):
        self.steps_seen.append((epoch, step, steps))


def test_every_step_reports_progress_when_an_epoch_is_shorter_than_log_every(tmp_path):
    config, datasets = _setup(tmp_path)
    steps = math.ceil(len(datasets.train) / 32)
    assert steps < config.log_every  # the case of the issue: 0/N for the whole epoch before
    events = Record()
    train(tiny_net(), config, datasets, events=events)
    assert events.progress_seen == [(e, s, steps) for e in range(2) for s in range(1, steps + 1)]
    assert events.steps_seen == [(0, steps, steps), (1, steps, steps)]  # the loss rows: unchanged


def test_job_status_follows_the_steps_and_a_stop_names_the_epoch_as_the_bar_does(tmp_path):
    config, datasets = _setup(tmp_path, epochs=3)
    steps = math.ceil(len(datasets.train) / 32)
    job = tmp_path / "job"
    job.mkdir()
    (job / "status.json").write_text(json.dumps({"status": "running"}))
    events = JobEvents(job)
    seen: list[int] = []
    calls = {"n": 0}

    def stop_in_the_third_epoch() -> bool:
        calls["n"] += 1
        seen.append(json.loads((job / "status.json").read_text()).get("step", 0))
        return calls["n"] >= 2 * (steps + 1) + 2  # (each epoch also asks once at its end)

    result = train(
        tiny_net(), config, datasets, events=events, checkpoint_dir=job, should_stop=stop_in_the_third_epoch
    )
    assert result.status == "stopped"
    assert result.message.startswith(f"stopped in epoch 3/3 after step 2/{steps};")
    assert 1 in seen  # status.json had a step before the epoch's end (the first write)
