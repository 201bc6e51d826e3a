"""Issue 21: the reference trainers' recipe keys, each checked against its library's definition."""

from __future__ import annotations

import copy

import pytest
import torch
from finetune_helpers import RecordedEvents, digits_config, tiny_net
from torch import nn

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.loop import Trainer, train
from engine.train.recipe_keys import config_warnings
from engine.train.tasks.classification import ClassificationTask

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(digits, **extra):
    return digits_config(digits, **{"epochs": 2, "optimizer": "sgd", "lr": 0.1, "backbone_lr": 0.1,
                                     "weight_decay": 0.0, "scheduler": "none", **extra})


def _linear(seed: int = 0) -> nn.Module:
    """A model without BatchNorm: a batch's gradient does not depend on how it is split."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 10))


def _batch(datasets, size=32):
    items = [datasets.train[i] for i in range(size)]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


KEYS = [
    "label_smoothing",
    "clip_grad_norm",
    "accumulate_steps",
    "warmup_epochs",
    "warmup_decay",
    "early_stopping",
    "ema_decay",
    "ema_steps",
]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("value", [-1, float("nan"), float("inf")])
def test_negative_or_non_finite_values_are_refused_naming_the_key(key, value):
    with pytest.raises(BadInput) as caught:
        train_config({"epochs": 5, key: value})
    assert f"[train] {key} =" in caught.value.message and "fix:" in caught.value.message


@pytest.mark.parametrize(
    "table, words",
    [
        ({"label_smoothing": 1.0}, ["label_smoothing", "below 1"]),
        ({"accumulate_steps": 0}, ["accumulate_steps", "from 1"]),
        ({"warmup_epochs": 3, "epochs": 2}, ["warmup_epochs", "at most epochs"]),
        ({"warmup_epochs": 1, "scheduler": "onecycle"}, ["warmup_epochs", "onecycle"]),
        ({"warmup_epochs": 1, "warmup_decay": 0}, ["warmup_decay"]),
        ({"warmup_decay": 1.5}, ["warmup_decay"]),
    ],
)
def test_values_that_cannot_work_are_refused(table, words):
    with pytest.raises(BadInput) as caught:
        train_config(table)
    assert all(word in caught.value.message for word in words), caught.value.message


@pytest.mark.parametrize("key", ["lr", "head_lr", "backbone_lr"])
def test_an_lr_float32_cannot_hold_is_refused_before_the_optimizer_sees_it(key):
    too_big = float(torch.finfo(torch.float32).max) * 10
    with pytest.raises(BadInput) as caught:
        train_config({key: too_big})
    assert key in caught.value.message and "float32" in caught.value.message
    # what the optimizer would have done with it (the traceback of issue 21)
    param = nn.Parameter(torch.ones(1))
    param.grad = torch.ones(1)
    with pytest.raises(RuntimeError):
        torch.optim.SGD([param], lr=too_big).step()


def test_a_huge_but_holdable_lr_warns():
    assert config_warnings(train_config({"lr": 0.5})) == []
    (line,) = config_warnings(train_config({"lr": 20.0}))
    assert "lr = 20" in line and "lr-find" in line


def test_label_smoothing_loss_equals_cross_entropy_with_label_smoothing(digits):
    config = _config(digits, label_smoothing=0.1)
    x, y = _batch(build_datasets(config))
    task = ClassificationTask()
    model = _linear()
    task.prepare(model, config)
    loss, _ = task.train_step(model, x, y)
    expected = nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.item() != pytest.approx(nn.CrossEntropyLoss()(model(x), y).item(), rel=1e-3)


def test_clip_grad_norm_gives_the_gradients_clip_grad_norm_gives(digits):
    config = _config(digits, clip_grad_norm=0.05, optimizer="sgd", momentum=0.0)
    datasets = build_datasets(config)
    x, y = _batch(datasets)
    reference = tiny_net()
    trainer = Trainer(tiny_net(), config, datasets)
    trainer.model.train()
    trainer._optimizer_step(trainer.model, x, y, trainer.task.empty_sums())

    nn.CrossEntropyLoss()(reference(x), y).backward()
    before = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
    assert before > 0.05  # the clip had something to do
    for (name, mine), theirs in zip(trainer.model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-5, atol=1e-7, msg=name)
        torch.testing.assert_close(
            mine.detach(), (theirs - 0.1 * theirs.grad).detach(), rtol=1e-5, atol=1e-7, msg=name
        )


def test_accumulated_small_batches_give_the_update_of_one_big_batch(digits):
    big = _config(digits, batch_size=32, optimizer="adam")
    datasets = build_datasets(big)
    x, y = _batch(datasets, 32)
    one = Trainer(_linear(), big, datasets, head="1")
    one._optimizer_step(one.model, x, y, one.task.empty_sums())
    four = Trainer(
        _linear(), _config(digits, batch_size=8, accumulate_steps=4, optimizer="adam"), datasets, head="1"
    )
    start = copy.deepcopy(four.model.state_dict())
    for part in range(4):
        four._optimizer_step(
            four.model, x[part * 8 : (part + 1) * 8], y[part * 8 : (part + 1) * 8], four.task.empty_sums()
        )
        if part < 3:  # nothing moves before the k-th batch
            assert all(torch.equal(a, b) for a, b in zip(four.model.state_dict().values(), start.values()))
        four.step += 1
    for a, b in zip(one.model.parameters(), four.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert four.updates_per_epoch == -(-four.steps_per_epoch // 4)


def test_warmup_lr_per_step_equals_linear_lr_then_the_main_schedule(digits):
    config = _config(digits, epochs=3, warmup_epochs=1, warmup_decay=0.1, scheduler="cosine")
    trainer = Trainer(tiny_net(), config, build_datasets(config))
    steps, total = trainer.updates_per_epoch, 3 * trainer.updates_per_epoch
    mine = []
    for _ in range(total):
        mine.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.scheduler.step()

    def reference(make, count):
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        scheduler, lrs = make(optimizer), []
        for _ in range(count):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return lrs

    warm = reference(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=steps), steps
    )
    main = reference(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - steps), total - steps
    )
    assert mine[0] == pytest.approx(0.01)
    assert mine == pytest.approx(warm + main, rel=1e-9, abs=1e-12)


def test_early_stopping_stops_and_says_why(digits, tmp_path):
    # an lr too small to change any prediction: the score never improves after epoch 1
    config = _config(digits, epochs=6, lr=1e-12, backbone_lr=1e-12, early_stopping=2)
    log = RecordedEvents()
    result = train(_linear(), config, build_datasets(config), events=log, head="1", checkpoint_dir=tmp_path)
    assert result.status == "done" and result.epoch == 3
    assert "early stopping" in result.message and "for 2 epochs" in result.message
    assert any("early_stopping = 2" in line for line in log.lines)
    assert result.best_checkpoint == "epoch-0001.pt"


@pytest.mark.parametrize(
    "key, value",
    [
        ("label_smoothing", 0.1),
        ("mixup_alpha", 0.2),
        ("cutmix_alpha", 1.0),
        ("auto_augment", "ra"),
        ("random_erasing", 0.25),
    ],
)
def test_classification_only_keys_are_refused_for_other_tasks(key, value):
    from engine.train.recipe_keys import check_task_keys

    config = train_config({key: value})
    check_task_keys("classification", config)  # applied there
    for task in ("detection", "semantic_segmentation"):
        with pytest.raises(BadInput) as caught:
            check_task_keys(task, config)
        assert key in caught.value.message and task in caught.value.message
    check_task_keys("detection", train_config({}))  # the defaults are fine everywhere


def test_stop_inside_an_accumulation_waits_for_its_update_and_resume_matches(digits, tmp_path):
    config = _config(
        digits,
        batch_size=16,
        accumulate_steps=3,
        epochs=2,
        optimizer="adam",
        lr=0.01,
        backbone_lr=0.01,
        scheduler="cosine",
        clip_grad_norm=1.0,
    )
    datasets = build_datasets(config)
    straight = _linear()
    train(straight, config, datasets, head="1")
    first_run = Trainer(_linear(), config, datasets, head="1", checkpoint_dir=tmp_path)
    first_run.should_stop = lambda: first_run.step >= 4  # asked while the 5th batch trains
    first = first_run.run()
    assert first.status == "stopped"
    from engine.train.checkpoint import newest_complete

    _, state = newest_complete(tmp_path)
    assert state["step"] == 6  # asked in batch 5; the update of batches 4-6 came first
    resumed = _linear(seed=7)
    Trainer(resumed, config, datasets, head="1", checkpoint_dir=tmp_path).run(state)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


class SqrtBump(nn.Module):
    """A finite loss whose gradient is not: d sqrt(p)/dp is infinite at p = 0."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _linear()
        self.bump = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + torch.sqrt(self.bump)


def test_a_non_finite_gradient_norm_stops_like_a_nan_loss(digits, tmp_path):
    from engine.train.checkpoint import newest_complete

    config = _config(digits, clip_grad_norm=1.0)
    result = train(SqrtBump(), config, build_datasets(config), head="body.1", checkpoint_dir=tmp_path)
    assert result.status == "failed" and "NaN/Inf" in result.message and "lr-find" in result.message
    path, state = newest_complete(tmp_path)
    assert path.name == "epoch-0000.pt"
    assert all(torch.isfinite(t).all() for t in state["model"].values())
