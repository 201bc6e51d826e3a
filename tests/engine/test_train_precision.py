"""Every device path on the CPU: bf16 and fp16 autocast, fp16's GradScaler, channels_last, compile,
each a tiny finetune whose losses are compared with the same run in fp32."""

from __future__ import annotations

import pytest
import torch
from finetune_helpers import RecordedEvents, TinyNet, tiny_net
from torch import nn

from engine.errors import BadInput
from engine.train.checkpoint import newest_complete
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.loop import Trainer
from engine.train.sample_data import write_digits

# bf16 keeps 8 bits of mantissa (0.4 % per rounding), fp16 11 bits (0.05 %); the mean loss of a batch
# averages the roundings out, and over 4 Adam steps of the tiny CNN the losses stayed within 1e-4 of
# fp32's (both); the bounds leave room for other CPUs' kernels. A run that ignored autocast would be
# bit-equal to fp32, which the tests rule out.
TOLERANCE = {"bf16": 0.01, "fp16": 0.002}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    torch.set_num_threads(1)
    return write_digits(tmp_path_factory.mktemp("data") / "digits", size=12, limit=160)


def _run(digits, model=None, checkpoint_dir=None, **extra):
    """Train 1 epoch (4 steps of 32) and return (result, events, trainer)."""
    table = {
        "data": str(digits),
        "image_size": 12,
        "batch_size": 32,
        "epochs": 1,
        "workers": 0,
        "optimizer": "adam",
        "lr": 0.01,
        "log_every": 1,
        "val_split": 0.2,
        **extra,
    }
    config = train_config(table)
    events = RecordedEvents()
    trainer = Trainer(
        model or tiny_net(), config, build_datasets(config), events=events, checkpoint_dir=checkpoint_dir
    )
    return trainer.run(), events, trainer


def _relative(a, b):
    return max(abs(x - y) / abs(y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_runs_on_the_cpu_and_its_losses_follow_fp32(digits, amp):
    _, plain, _ = _run(digits, amp="off")
    result, mixed, trainer = _run(digits, amp=amp)
    assert result.status == "done"
    assert f"precision: {amp} autocast on cpu" in mixed.lines[0]
    assert "precision: fp32 (no autocast) on cpu" in plain.lines[0]
    assert len(mixed.losses) == len(plain.losses) == 4
    assert mixed.losses != plain.losses  # autocast really ran
    assert _relative(mixed.losses, plain.losses) < TOLERANCE[amp]
    assert (trainer.scaler is not None) == (amp == "fp16")


def test_amp_true_stays_fp32_on_the_cpu_and_says_why(digits):
    _, auto, _ = _run(digits, amp=True)
    _, plain, _ = _run(digits, amp=False)
    assert auto.losses == plain.losses
    assert "amp = true runs bf16 only on a GPU that has it" in auto.lines[0]


def test_the_fp16_scaler_state_is_checkpointed_and_resumed(digits, tmp_path):
    _, _, trainer = _run(digits, amp="fp16", checkpoint_dir=tmp_path)
    _, state = newest_complete(tmp_path)
    assert state["scaler"]["scale"] == trainer.scaler.get_scale()
    config = train_config({"data": str(digits), "image_size": 12, "workers": 0, "amp": "fp16", "epochs": 2})
    again = Trainer(tiny_net(), config, build_datasets(config))
    again.load_state(state)
    assert again.scaler.get_scale() == trainer.scaler.get_scale()


class LoudNet(TinyNet):
    """TinyNet whose head sees its features x 10^4: in fp16 the head's weight gradient, scaled by the
    GradScaler's first scale (2^16), overflows."""

    def forward(self, x):
        return self.fc(self.features(x) * 1e4)


def test_fp16_overflow_skips_the_update_instead_of_stopping(digits):
    torch.manual_seed(0)
    result, events, trainer = _run(digits, model=LoudNet(), amp="fp16")
    skipped = [line for line in events.lines if "GradScaler skipped this update" in line]
    assert result.status == "done", result.message
    assert skipped and trainer.scaler.get_scale() < 2.0**16


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_a_nan_loss_still_stops_under_autocast(digits, tmp_path, amp):
    result, _, _ = _run(digits, amp=amp, optimizer="sgd", lr=1e30, scheduler="none", checkpoint_dir=tmp_path)
    assert result.status == "failed"
    assert "NaN/Inf" in result.message and "epoch-0000.pt" in result.message
    assert ('try amp = "bf16"' in result.message) == (amp == "fp16")


def test_channels_last_trains_on_the_cpu_like_the_default_layout(digits):
    _, plain, _ = _run(digits, amp="off")
    result, last, trainer = _run(digits, amp="off", channels_last=True)
    assert result.status == "done"
    assert trainer.model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert _relative(last.losses, plain.losses) < 1e-4


@pytest.mark.parametrize(
    ("value", "meant"),
    [(True, "auto"), (False, "off"), ("BF16", "bf16"), ("fp16", "fp16"), ("off", "off"), ("true", "auto")],
)
def test_amp_values_a_recipe_may_hold(value, meant):
    assert train_config({"amp": value}).amp == meant


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(BadInput) as caught:
        train_config({"amp": "fp8"})
    assert "amp = 'fp8'" in caught.value.message
    assert "bf16, fp16, off" in caught.value.why


def test_lr_find_runs_in_bf16_on_the_cpu(digits):
    from engine.train.lr_find import find_lr

    config = train_config(
        {
            "data": str(digits),
            "image_size": 12,
            "batch_size": 32,
            "workers": 0,
            "optimizer": "adam",
            "amp": "bf16",
        }
    )
    datasets = build_datasets(config)
    plain = find_lr(
        tiny_net(),
        train_config({**config.to_dict(), "amp": "off"}),
        datasets,
        torch.device("cpu"),
        steps=5,
        start=1e-4,
        end=1e-2,
    )
    mixed = find_lr(tiny_net(), config, datasets, torch.device("cpu"), steps=5, start=1e-4, end=1e-2)
    assert mixed.raw_losses != plain.raw_losses
    assert _relative(mixed.raw_losses, plain.raw_losses) < TOLERANCE["bf16"]


@pytest.mark.slow
def test_compile_trains_on_the_cpu_like_eager(digits):
    from engine.train.compiled import compile_blocker

    blocker = compile_blocker(torch.device("cpu"))
    if blocker:
        pytest.skip(blocker)
    torch._dynamo.reset()
    _, eager, _ = _run(digits, amp="off")
    result, compiled, trainer = _run(digits, amp="off", compile=True)
    assert result.status == "done"
    assert any("compile: torch.compile" in line for line in compiled.lines)
    assert isinstance(trainer.model, nn.Module) and "features.0.weight" in trainer.model.state_dict()
    assert _relative(compiled.losses, eager.losses) < 1e-3
