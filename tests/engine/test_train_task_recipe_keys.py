"""Issue 21: warmup, clip_grad_norm, accumulate_steps, EMA and early stopping on a tiny detector and
a tiny segmenter (the keys only classifiers apply stay refused for them)."""

from __future__ import annotations

import pytest
import torch
from task_models import tiny_detector, tiny_segmenter

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.loop import Trainer
from engine.train.recipe_keys import check_task_keys
from engine.train.sample_coco import write_coco, write_masks
from engine.train.tasks import task_for

pytestmark = pytest.mark.usefixtures("one_thread")
MODELS = {"detection": tiny_detector, "semantic_segmentation": tiny_segmenter}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 training and 4 validation images per task: COCO boxes (64 px), images/ + masks/ (32 px)."""
    root = tmp_path_factory.mktemp("tasks")
    write_coco(root, images=8, size=64)
    write_coco(root, images=4, size=64, seed=1, name="val.json")
    masks = write_masks(root / "seg", images=12, size=32)
    return {
        "detection": {"data": str(root / "train.json"), "val_data": str(root / "val.json")},
        "semantic_segmentation": {"data": str(masks), "val_split": 0.34, "image_size": 32},
    }


def _trainer(data, task, **extra):
    config = train_config(
        {
            **data[task],
            "epochs": 2,
            "batch_size": 2,
            "workers": 0,
            "optimizer": "sgd",
            "momentum": 0.0,
            "weight_decay": 0.0,
            "lr": 0.01,
            "backbone_lr": 0.01,
            "scheduler": "none",
            **extra,
        }
    )
    model = MODELS[task]()
    found = task_for(model)
    assert found.name == task
    return Trainer(model, config, found.build_datasets(config, None), task=found)


def _weights(model):
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


@pytest.mark.parametrize("task", MODELS)
def test_warmup_lr_equals_linear_lr_after_the_first_epoch(data, task):
    trainer = _trainer(data, task, warmup_epochs=2, warmup_decay=0.1)
    result = trainer.run()
    updates = trainer.updates_per_epoch
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    linear = torch.optim.lr_scheduler.LinearLR(reference, start_factor=0.1, total_iters=2 * updates)
    for _ in range(updates):
        reference.step()
        linear.step()
    assert result.history[0]["lr"] == pytest.approx(reference.param_groups[0]["lr"])
    assert result.history[1]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("task", MODELS)
def test_clip_grad_norm_bounds_each_update(data, task):
    clip = 1e-3
    trainer = _trainer(data, task, clip_grad_norm=clip, epochs=1)
    before = _weights(trainer.model)
    assert trainer.run().status == "done"
    moved = float((_weights(trainer.model) - before).norm())
    # plain SGD moves the weights by lr x the clipped gradient, whose norm is at most `clip`
    assert 0 < moved <= trainer.updates_per_epoch * 0.01 * clip * (1 + 1e-4)
    unclipped = _trainer(data, task, epochs=1)
    unclipped.run()
    assert float((_weights(unclipped.model) - before).norm()) > 10 * moved


@pytest.mark.parametrize("task", MODELS)
def test_accumulated_batches_make_one_update_each(data, task):
    trainer = _trainer(data, task, accumulate_steps=2, optimizer="adam", epochs=1)
    assert trainer.run().status == "done"
    steps = {int(state["step"]) for state in trainer.optimizer.state.values()}
    assert steps == {-(-trainer.steps_per_epoch // 2)} and trainer.steps_per_epoch >= 3


@pytest.mark.parametrize("task", MODELS)
def test_the_checkpointed_weights_are_the_ema_ones(data, task):
    trainer = _trainer(data, task, ema_decay=0.5, ema_steps=1, epochs=1)
    assert trainer.run().status == "done"
    saved, averaged = trainer.state()["model"], trainer.ema.module.state_dict()
    assert saved.keys() == averaged.keys() and all(torch.equal(saved[k], averaged[k]) for k in saved)
    trained = trainer.model.state_dict()
    assert any(not torch.equal(saved[k], trained[k]) for k in saved if saved[k].is_floating_point())


@pytest.mark.parametrize("task", MODELS)
def test_early_stopping_stops_when_the_score_stays(data, task):
    result = _trainer(data, task, lr=1e-12, backbone_lr=1e-12, epochs=4, early_stopping=1).run()
    assert result.status == "done" and result.epoch == 2
    assert result.message.startswith("early stopping:")


@pytest.mark.parametrize(
    "key, value",
    [("label_smoothing", 0.1), ("mixup_alpha", 0.2), ("class_balance", "weights"), ("random_erasing", 0.2)],
)
def test_keys_only_classifiers_apply_stay_refused(key, value):
    with pytest.raises(BadInput) as caught:
        check_task_keys("detection", train_config({key: value}))
    assert f"[train] {key}" in caught.value.message and "detection" in caught.value.message
