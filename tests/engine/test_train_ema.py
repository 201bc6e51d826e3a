"""Issue 21: model EMA equals torch's AveragedModel + get_ema_multi_avg_fn; checkpoints keep it."""

from __future__ import annotations

import pytest
import torch
from finetune_helpers import RecordedEvents, digits_config, tiny_net
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from engine.train.checkpoint import load_checkpoint, newest_complete
from engine.train.data import build_datasets
from engine.train.loop import Trainer, train

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(digits, **extra):
    return digits_config(digits, backbone_lr=0.01, scheduler="none", **extra)


def _assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


def _trainer_and_reference(config):
    """A Trainer of tiny_net on digits, torch's AveragedModel of it with decay 0.9, 64 images."""
    datasets = build_datasets(config)
    trainer = Trainer(tiny_net(), config, datasets)
    reference = AveragedModel(tiny_net(), multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    trainer.model.train()
    return trainer, reference, [datasets.train[i] for i in range(64)]


def _step(trainer, items, update: int) -> None:
    """One optimizer update of the trainer on one of two fixed batches of 32."""
    batch = items[(update % 2) * 32 : (update % 2) * 32 + 32]
    x, y = torch.stack([x for x, _ in batch]), torch.tensor([y for _, y in batch])
    trainer._optimizer_step(trainer.model, x, y, trainer.task.empty_sums())
    trainer.step += 1


def test_ema_weights_equal_averaged_models_on_the_same_updates(digits):
    config = _config(digits, ema_decay=0.9, ema_steps=2)
    trainer, reference, items = _trainer_and_reference(config)
    for update in range(1, 7):
        _step(trainer, items, update)
        if update % 2 == 0:
            reference.update_parameters(trainer.model)
    assert int(reference.n_averaged) == 3
    _assert_same(trainer.ema.module, reference.module)
    # and it is an average, not the trained weights
    assert not torch.equal(trainer.ema.module.fc.weight, trainer.model.fc.weight)


def test_checkpoints_hold_the_ema_weights_and_the_log_says_so(digits, tmp_path):
    config = _config(digits, ema_decay=0.8, ema_steps=1)
    log = RecordedEvents()
    model = tiny_net()
    trainer = Trainer(model, config, build_datasets(config), checkpoint_dir=tmp_path, events=log)
    result = trainer.run()
    assert result.status == "done"
    assert any("model EMA" in line and "averaged weights" in line for line in log.lines)
    _, state = newest_complete(tmp_path)
    best = load_checkpoint(tmp_path / result.best_checkpoint)
    for saved in (state, best):
        for name, value in trainer.ema.module.state_dict().items():
            assert torch.equal(saved["model"][name], value), name
        for name, value in trainer.model.state_dict().items():
            assert torch.equal(saved["trained_model"][name], value), name
    # the recorded validation is the EMA's: evaluating its weights again gives the same figures
    plain = tiny_net()
    plain.load_state_dict(state["model"])
    again = Trainer(plain, _config(digits), build_datasets(config)).evaluate()
    assert again["val_acc"] == pytest.approx(log.records[-1]["val_acc"])
    assert again["val_loss"] == pytest.approx(log.records[-1]["val_loss"], rel=1e-6)


def test_resume_with_ema_continues_the_average(digits, tmp_path):
    config = _config(digits, epochs=2, ema_decay=0.7, ema_steps=3)
    datasets = build_datasets(config)
    whole = train(tiny_net(), config, datasets)
    first = Trainer(
        tiny_net(), _config(digits, epochs=2, ema_decay=0.7, ema_steps=3), datasets, checkpoint_dir=tmp_path
    )
    first.config.epochs = 1
    first.run()
    _, state = newest_complete(tmp_path)
    second = Trainer(tiny_net(seed=5), config, datasets)
    resumed = second.run(resume=state)
    assert resumed.best_val_acc == whole.best_val_acc
    assert second.ema.updates == 2 * second.updates_per_epoch


def test_a_non_finite_model_is_never_averaged_in(digits):
    config = _config(digits, ema_decay=0.5, ema_steps=1)
    trainer = Trainer(tiny_net(), config, build_datasets(config))
    before = {k: v.clone() for k, v in trainer.ema.module.state_dict().items()}
    with torch.no_grad():
        trainer.model.fc.weight[0, 0] = float("nan")
    trainer.ema.after_update(trainer.model)
    assert trainer.ema.skipped == 1
    for name, value in trainer.ema.module.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_during_warmup_the_ema_copies_the_model_as_torchvisions_reference_does(digits):
    """references/classification/train.py: `if epoch < args.lr_warmup_epochs:
    model_ema.n_averaged.fill_(0)` after each EMA update, so the average starts after warmup."""
    config = _config(digits, ema_decay=0.9, ema_steps=1, warmup_epochs=1, epochs=2)
    trainer, reference, items = _trainer_and_reference(config)
    for update in range(1, 7):
        trainer.epoch = 0 if update <= 3 else 1  # epochs completed: the first epoch warms up
        _step(trainer, items, update)
        reference.update_parameters(trainer.model)
        if trainer.epoch < config.warmup_epochs:
            reference.n_averaged.fill_(0)
            _assert_same(trainer.ema.module, trainer.model)  # a copy while warming up
    _assert_same(trainer.ema.module, reference.module)
    assert not torch.equal(trainer.ema.module.fc.weight, trainer.model.fc.weight)
