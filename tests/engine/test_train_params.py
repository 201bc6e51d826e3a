"""Parameter groups: head vs backbone lr, no weight decay on biases and norms, frozen left out."""

from __future__ import annotations

import torch
import torchvision

from engine.train.config import train_config
from engine.train.optim import make_optimizer
from engine.train.params import find_head, lrs, param_groups


def _resnet():
    model = torchvision.models.resnet18(num_classes=10)
    for param in model.layer1.parameters():
        param.requires_grad_(False)
    return model


def test_head_gets_lr_and_backbone_ten_times_lower_by_default():
    groups = {g.name: g for g in param_groups(_resnet(), train_config({"lr": 0.1}))}
    assert groups["head weights"].lr == 0.1 and groups["head weights"].layers == ["fc"]
    assert abs(groups["backbone weights"].lr - 0.01) < 1e-12
    assert lrs(train_config({"lr": 0.01, "head_lr": 0.1})) == (0.1, 0.01)
    assert lrs(train_config({"lr": 0.01, "backbone_lr": 0.05})) == (0.01, 0.05)


def test_no_decay_on_biases_and_norms_and_bias_multiplier():
    config = train_config({"lr": 0.1, "weight_decay": 0.05, "bias_lr_mult": 2.0})
    groups = {g.name: g for g in param_groups(_resnet(), config)}
    assert groups["head weights"].weight_decay == 0.05
    assert groups["head bias"].weight_decay == 0.0 and abs(groups["head bias"].lr - 0.2) < 1e-12
    norm = groups["backbone norm"]
    assert norm.weight_decay == 0.0 and all(".bn" in n or n.startswith("bn") or "downsample.1" in n
                                            for n in norm.names)
    assert all(p.ndim > 1 for p in groups["backbone weights"].params)


def test_frozen_parameters_never_reach_the_optimizer():
    model = _resnet()
    optimizer = make_optimizer(param_groups(model, train_config({})), train_config({}))
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    frozen = {id(p) for p in model.layer1.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert not in_optimizer & frozen
    assert in_optimizer == trainable


def test_find_head_on_a_plain_model():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    assert find_head(model) == "2"
