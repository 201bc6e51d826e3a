"""Issue 21: every job writes TensorBoard event files whose scalars equal metrics.jsonl."""

from __future__ import annotations

import sys

import pytest
from finetune_helpers import digits_config, tiny_net
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.jobs.events import JobEvents
from engine.jobs.store import read_metrics
from engine.train.data import build_datasets
from engine.train.loop import train
from engine.train.tensorboard import MISSING

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(digits, **extra):
    return digits_config(digits, **{"epochs": 2, "optimizer": "sgd", "lr": 0.05, "log_every": 3,
                                     "diagnostics_every": 4, "warmup_epochs": 1, **extra})


def _scalars(folder):
    board = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    board.Reload()
    return {tag: [(e.step, e.value) for e in board.Scalars(tag)] for tag in board.Tags()["scalars"]}


def test_the_event_files_hold_the_figures_of_metrics_jsonl(digits, tmp_path):
    config = _config(digits)
    result = train(tiny_net(), config, build_datasets(config), events=JobEvents(tmp_path))
    assert result.status == "done"
    records = read_metrics(tmp_path)
    scalars = _scalars(tmp_path / "tensorboard")
    steps = [r for r in records if r["kind"] == "step"]
    per_epoch = steps[-1]["steps"]
    assert scalars["loss/train_step"] == [
        ((r["epoch"] - 1) * per_epoch + r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in steps
    ]
    epochs = [r for r in records if r["kind"] == "epoch"]
    for key, tag in (
        ("train_loss", "loss/train"),
        ("val_loss", "loss/val"),
        ("val_acc", "metric/val"),
        ("images_per_s", "speed/images_per_s"),
    ):
        assert scalars[tag] == [(r["epoch"] * per_epoch, pytest.approx(r[key], rel=1e-6)) for r in epochs]
    groups = epochs[0]["lr_groups"]
    assert len(groups) >= 1
    for name in groups:
        assert scalars[f"lr/{name}"] == [
            (r["epoch"] * per_epoch, pytest.approx(r["lr_groups"][name])) for r in epochs
        ]
    layers = [r for r in records if r["kind"] == "layers"]
    assert layers
    block, numbers = next((n, b) for n, b in layers[0]["blocks"].items() if b.get("trainable"))
    assert scalars[f"grad_norm/{block}"][0] == (layers[0]["step"], pytest.approx(numbers["grad_norm"]))


def test_without_tensorboard_the_job_says_so_once_and_goes_on(digits, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if it were not installed
    config = _config(digits, epochs=1)
    result = train(tiny_net(), config, build_datasets(config), events=JobEvents(tmp_path))
    assert result.status == "done"
    assert capsys.readouterr().out.count(MISSING) == 1
    assert not (tmp_path / "tensorboard").exists()
    assert [r["epoch"] for r in read_metrics(tmp_path) if r["kind"] == "epoch"] == [1]


def test_a_resumed_job_purges_the_events_after_its_checkpoint(tmp_path):
    events = JobEvents(tmp_path)
    for step in (1, 2, 3, 4):
        events.step(0, step, 4, float(step))
    events.board.close()
    # a resume from step 2: metrics.jsonl keeps steps 1-2, the event files must do the same
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()[:2]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    events = JobEvents(tmp_path)
    events.step(0, 3, 4, 30.0)
    events.board.close()
    assert _scalars(tmp_path / "tensorboard")["loss/train_step"] == [(1, 1.0), (2, 2.0), (3, 30.0)]


def test_a_tampered_record_gives_no_scalar_and_no_crash():
    from engine.train.tensorboard import Board

    board = Board(None)
    record = {"kind": "epoch", "epoch": 1, "val_acc": 50.0, "lr_groups": {"head": "fast", "body": 0.1}}
    assert board.scalars(record) == [("metric/val", 50.0, 0), ("lr/body", 0.1, 0)]
    assert board.scalars({**record, "lr_groups": "oops"}) == [("metric/val", 50.0, 0)]


def _hparams(folder):
    """Return (the settings, the metric tags) of the hparams plugin's summaries in the event files."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    board = EventAccumulator(str(folder))
    board.Reload()
    content = board.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    settings = {}
    for key, value in start.session_start_info.hparams.items():
        settings[key] = getattr(value, value.WhichOneof("kind"))
    return settings, [m.name.tag for m in experiment.experiment.metric_infos]


def test_the_job_writes_its_settings_as_hparams_at_the_start(digits, tmp_path):
    config = _config(digits, epochs=1, label_smoothing=0.1, augment=["crop", "flip"])
    result = train(tiny_net(), config, build_datasets(config), events=JobEvents(tmp_path))
    assert result.status == "done"
    settings, metrics = _hparams(tmp_path / "tensorboard")
    expected = config.to_dict()
    assert settings["label_smoothing"] == pytest.approx(0.1) and settings["optimizer"] == "sgd"
    assert settings["augment"] == "crop,flip" and settings["amp"] == config.amp == "auto"
    assert (settings["freeze_bn"], settings["channels_last"]) == ("true", "false")  # not 1.0 and 0.0
    numbers = {k: v for k, v in expected.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {k: settings[k] for k in numbers} == pytest.approx(numbers)
    assert set(settings) == {k for k, v in expected.items() if v is not None}
    assert "metric/val" in metrics and "loss/val" in metrics
    assert len([p for p in (tmp_path / "tensorboard").iterdir()]) == 1  # the same run, no sub-folder
