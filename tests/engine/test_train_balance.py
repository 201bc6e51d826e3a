"""Issue 21: class_balance: loss weights from the class counts, or a sampler balancing the classes."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from finetune_helpers import RecordedEvents, tiny_net
from PIL import Image
from torch import nn

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.loop import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")
COUNTS = {"ant": 60, "bee": 12, "cat": 3}


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    """An ImageFolder of 12 px images with 60, 12 and 3 images per class, and a val/ folder."""
    root = tmp_path_factory.mktemp("imbalanced")
    for part, scale in (("train", 1), ("val", 0)):
        for index, (name, count) in enumerate(COUNTS.items()):
            folder = root / part / name
            folder.mkdir(parents=True)
            for i in range(max(1, count * scale)):
                Image.new("RGB", (12, 12), (80 * index, (7 * i) % 255, 90)).save(folder / f"{i}.png")
    return root


def _trainer(data, **extra):
    config = train_config(
        {
            "data": str(data),
            "image_size": 12,
            "batch_size": 16,
            "epochs": 1,
            "workers": 0,
            "optimizer": "sgd",
            "lr": 0.01,
            "scheduler": "none",
            **extra,
        }
    )
    return Trainer(tiny_net(num_classes=3), config, build_datasets(config))


def test_weights_are_the_balanced_weights_of_a_hand_count(imbalanced):
    trainer = _trainer(imbalanced, class_balance="weights")
    n = sum(COUNTS.values())
    by_hand = torch.tensor([n / (3 * COUNTS[c]) for c in ("ant", "bee", "cat")])
    assert torch.allclose(trainer.task.train_loss_fn.weight, by_hand)


def test_the_weighted_loss_equals_cross_entropy_with_those_weights(imbalanced):
    trainer = _trainer(imbalanced, class_balance="weights", label_smoothing=0.1)
    items = [trainer.datasets.train[i] for i in (0, 1, 61, 62, 73, 74)]
    x, y = torch.stack([a for a, _ in items]), torch.tensor([b for _, b in items])
    trainer.model.eval()
    with torch.no_grad():
        loss, _figures = trainer.task.train_step(trainer.model, x, y)
        reference = nn.CrossEntropyLoss(weight=trainer.task.class_weights, label_smoothing=0.1)
        assert float(loss) == pytest.approx(float(reference(trainer.model(x), y)), rel=1e-5)


def _drawn(trainer, epochs):
    targets = [t for _, t in trainer.datasets.train.samples]
    drawn = Counter()
    for epoch in range(epochs):
        trainer.batches.set_epoch(epoch)
        drawn.update(targets[i] for batch in trainer.batches for i in batch)
    return drawn


def test_the_sampler_draws_each_class_near_equally_often(imbalanced):
    drawn = _drawn(_trainer(imbalanced, class_balance="sampler"), epochs=10)
    total = sum(drawn.values())
    assert total == 10 * sum(COUNTS.values())
    assert all(0.27 < drawn[c] / total < 0.40 for c in range(3)), drawn
    plain = _drawn(_trainer(imbalanced), epochs=1)
    assert plain == Counter({0: 60, 1: 12, 2: 3})


def test_the_sampler_draws_the_same_batches_again_for_a_resume(imbalanced):
    first, second = (_trainer(imbalanced, class_balance="sampler") for _ in range(2))
    for trainer in (first, second):
        trainer.batches.set_epoch(3, skip=1)
    assert list(first.batches) == list(second.batches)
    first.batches.set_epoch(4)
    assert list(first.batches) != list(second.batches)


def test_an_unknown_balance_is_refused():
    with pytest.raises(BadInput) as caught:
        train_config({"class_balance": "oversample"})
    assert "none, weights, sampler" in caught.value.message


@pytest.mark.parametrize("balance", ["weights", "sampler"])
def test_a_balanced_job_trains_and_says_how(imbalanced, balance):

    trainer = _trainer(imbalanced, class_balance=balance)
    trainer.events = log = RecordedEvents()
    result = trainer.run()
    assert result.status == "done" and result.epoch == 1
    said = [line for line in log.lines if line.startswith("class balance:")]
    assert len(said) == 1 and "ant 60, bee 12, cat 3" in said[0]
    assert ("weights" in said[0]) == (balance == "weights")
