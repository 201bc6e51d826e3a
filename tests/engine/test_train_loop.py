"""The training loop on real data (digits): same maths on the fast path, frozen BN, NaN, resume."""

from __future__ import annotations

import pytest
import torch
from finetune_helpers import RecordedEvents, tiny_net

from engine.errors import BadInput
from engine.train.checkpoint import list_checkpoints, load_checkpoint, newest_complete
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.events import Events
from engine.train.loop import Trainer, train
from engine.train.sample_data import write_digits


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    torch.set_num_threads(1)
    return write_digits(tmp_path_factory.mktemp("data") / "digits", size=12, limit=500)


def _config(digits, **extra):
    base = {"data": str(digits), "image_size": 12, "batch_size": 32, "epochs": 3, "workers": 0,
            "optimizer": "adam", "lr": 0.01, "backbone_lr": 0.01}
    return train_config({**base, **extra})


def _head_only(model):
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith("fc."))
    return model


def test_head_only_fast_path_gives_the_same_result_as_the_plain_path(digits):
    config = _config(digits)
    datasets = build_datasets(config)
    fast_log, slow_log = RecordedEvents(), RecordedEvents()
    fast = train(_head_only(tiny_net()), config, datasets, events=fast_log)
    slow_model = _head_only(tiny_net())
    slow = train(slow_model, _config(digits, feature_cache=False), datasets, events=slow_log)
    assert any("features cached" in line for line in fast_log.lines)
    assert not any("features cached" in line for line in slow_log.lines)
    assert fast.status == slow.status == "done"
    for a, b in zip(fast_log.records, slow_log.records):
        assert a["val_acc"] == pytest.approx(b["val_acc"], abs=0.3)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)


def test_augmented_or_unfrozen_training_does_not_cache(digits):
    log = RecordedEvents()
    train(_head_only(tiny_net()), _config(digits, epochs=1, augment=["flip"]),
          build_datasets(_config(digits, epochs=1, augment=["flip"])), events=log)
    assert not any("features cached" in line for line in log.lines)


def test_frozen_batchnorm_keeps_its_running_stats(digits):
    model = tiny_net()
    for param in model.features[:2].parameters():
        param.requires_grad_(False)
    frozen_mean = model.features[1].running_mean.clone()
    trained_mean = model.features[5].running_mean.clone()
    config = _config(digits, epochs=1)
    train(model, config, build_datasets(config))
    assert torch.equal(model.features[1].running_mean, frozen_mean)
    assert not torch.equal(model.features[5].running_mean, trained_mean)

    model = tiny_net()
    for param in model.features[:2].parameters():
        param.requires_grad_(False)
    config = _config(digits, epochs=1, freeze_bn=False)
    train(model, config, build_datasets(config))
    assert not torch.equal(model.features[1].running_mean, frozen_mean)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    config = _config(digits, optimizer="sgd", lr=1e30, backbone_lr=1e30, scheduler="none")
    result = train(tiny_net(), config, build_datasets(config), checkpoint_dir=tmp_path)
    assert result.status == "failed"
    assert "NaN/Inf" in result.message and "epoch-0000.pt" in result.message
    assert "ptm-tui lr-find" in result.message
    path, state = newest_complete(tmp_path)
    assert path.name == "epoch-0000.pt"
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_stop_then_resume_matches_an_uninterrupted_run(digits, tmp_path):
    config = _config(digits, augment=["crop"], scheduler="onecycle")
    datasets = build_datasets(config)
    straight = tiny_net()
    train(straight, config, datasets)

    steps = {"n": 0}

    def stop_after_20_steps():
        steps["n"] += 1
        return steps["n"] >= 20

    first = train(tiny_net(), config, datasets, checkpoint_dir=tmp_path,
                  should_stop=stop_after_20_steps)
    assert first.status == "stopped" and first.epoch == 1
    path, state = newest_complete(tmp_path)
    assert path.name.startswith("epoch-0001-step-") and path.name == first.checkpoint
    assert state["epoch"] == 1 and 0 < state["step"] < 13  # stopped inside the second epoch
    resumed = tiny_net(seed=123)  # different init: everything must come from the checkpoint
    result = Trainer(resumed, config, datasets, checkpoint_dir=tmp_path).run(state)
    assert result.status == "done" and result.epoch == 3
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-5), name


def test_gradual_unfreeze_trains_only_the_head_first(digits):
    model = tiny_net()
    start = model.features[0].weight.clone()
    snapshots = []

    class Snap(Events):
        def epoch(self, record):
            snapshots.append(model.features[0].weight.detach().clone())

    config = _config(digits, epochs=2, head_epochs=1)
    train(model, config, build_datasets(config), events=Snap())
    assert torch.equal(snapshots[0], start)
    assert not torch.equal(snapshots[1], start)
    assert all(p.requires_grad for p in model.parameters())


def test_a_head_that_does_not_match_the_classes_is_refused(digits):
    config = _config(digits)
    with pytest.raises(BadInput) as caught:
        train(tiny_net(num_classes=5), config, build_datasets(config))
    assert "10 classes" in caught.value.message and "replace_head" in caught.value.message


def test_everything_frozen_is_refused(digits):
    model = tiny_net()
    for param in model.parameters():
        param.requires_grad_(False)
    with pytest.raises(BadInput, match="nothing to train"):
        train(model, _config(digits), build_datasets(_config(digits)))


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("scheduler", ["none", "cosine", "step", "onecycle"])
def test_every_optimizer_and_scheduler_checkpoint_loads_with_weights_only(
        digits, tmp_path, optimizer, scheduler):
    config = _config(digits, optimizer=optimizer, scheduler=scheduler, epochs=1)
    trainer = Trainer(tiny_net(), config, build_datasets(config), checkpoint_dir=tmp_path)
    trainer.optimizer.zero_grad()
    trainer.model(torch.randn(2, 3, 12, 12)).sum().backward()
    trainer.optimizer.step()
    trainer.save()
    state = load_checkpoint(list_checkpoints(tmp_path)[-1])
    assert state["config"]["optimizer"] == optimizer
    again = Trainer(tiny_net(seed=1), config, build_datasets(config))
    again.load_state(state)
    assert torch.equal(again.model.fc.weight, trainer.model.fc.weight)
