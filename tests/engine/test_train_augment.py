"""Issue 21: the references' augmentations are torchvision.transforms.v2's own, and a digits job
trains with all of them."""

from __future__ import annotations

import math

import pytest
import torch
from finetune_helpers import RecordedEvents, digits_config, tiny_net
from torch import nn
from torchvision.transforms import v2

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.data import UNREADABLE, build_datasets, build_transforms
from engine.train.loop import Trainer, train

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(digits, **extra):
    return digits_config(digits, backbone_lr=0.01, **extra)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("ra", v2.RandAugment),
        ("ta_wide", v2.TrivialAugmentWide),
        ("augmix", v2.AugMix),
        ("imagenet", v2.AutoAugment),
    ],
)
def test_auto_augment_is_torchvisions_policy(digits, name, kind):
    train_tf, val_tf = build_transforms(_config(digits, auto_augment=name))
    found = [t for t in train_tf.transforms if isinstance(t, kind)]
    assert len(found) == 1
    if name == "imagenet":
        assert found[0].policy == v2.AutoAugmentPolicy.IMAGENET
    assert not any(isinstance(t, kind) for t in val_tf.transforms)


def test_random_erasing_comes_after_normalize_with_its_probability(digits):
    train_tf, val_tf = build_transforms(_config(digits, random_erasing=0.25))
    last = train_tf.transforms[-1]
    assert isinstance(last, v2.RandomErasing) and last.p == 0.25
    assert type(train_tf.transforms[-2]).__name__ == "Normalize"
    assert not any(isinstance(t, v2.RandomErasing) for t in val_tf.transforms)


def test_bad_augment_values_are_refused():
    with pytest.raises(BadInput, match="auto_augment"):
        train_config({"auto_augment": "randaug"})
    for key in ("mixup_alpha", "cutmix_alpha", "random_erasing"):
        with pytest.raises(BadInput, match=key):
            train_config({key: -0.5})
    with pytest.raises(BadInput, match="random_erasing"):
        train_config({"random_erasing": 1.5})


def _batch(datasets, size=32):
    items = [datasets.train[i] for i in range(size)]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def test_mixup_batch_and_loss_equal_torchvisions_mixup(digits):
    config = _config(digits, mixup_alpha=0.2)
    datasets = build_datasets(config)
    trainer = Trainer(tiny_net(), config, datasets)
    x, y = _batch(datasets)
    y[0] = UNREADABLE  # an unreadable image is left out of the mix
    torch.manual_seed(3)
    mixed_x, mixed_y = trainer.task.to_device(trainer, x, y)
    torch.manual_seed(3)
    ref_x, ref_y = v2.MixUp(alpha=0.2, num_classes=10)(x[1:], y[1:])
    torch.testing.assert_close(mixed_x, ref_x, rtol=0, atol=0)
    torch.testing.assert_close(mixed_y, ref_y, rtol=0, atol=0)
    assert not torch.equal(mixed_x, x[1:])  # it did mix
    loss, (hits, seen) = trainer.task.train_step(trainer.model, mixed_x, mixed_y)
    assert seen == 31
    logits = trainer.model(mixed_x)
    expected = nn.CrossEntropyLoss()(logits, ref_y)
    assert hits == (logits.argmax(1) == ref_y.argmax(1)).sum()  # a hit: the larger share predicted
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_mixup_and_cutmix_together_pick_one_per_batch(digits):
    trainer = Trainer(
        tiny_net(), _config(digits, mixup_alpha=0.2, cutmix_alpha=1.0), build_datasets(_config(digits))
    )
    mixer = trainer.task.mixer
    assert isinstance(mixer, v2.RandomChoice)
    assert [type(t) for t in mixer.transforms] == [v2.MixUp, v2.CutMix]
    assert [t.alpha for t in mixer.transforms] == [0.2, 1.0]


def test_a_digits_job_trains_with_every_augmentation(digits):
    config = _config(
        digits,
        auto_augment="ta_wide",
        random_erasing=0.25,
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
        label_smoothing=0.1,
    )
    model = tiny_net()
    for name, param in model.named_parameters():  # head-only: would be cached without augmentation
        param.requires_grad_(name.startswith("fc."))
    log = RecordedEvents()
    result = train(model, config, build_datasets(config), events=log)
    assert result.status == "done"
    assert math.isfinite(result.history[-1]["train_loss"]) and result.history[-1]["val_acc"] >= 0
    assert not any("features cached" in line for line in log.lines)
