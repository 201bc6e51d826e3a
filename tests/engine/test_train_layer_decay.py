"""Issue 21: layer_decay scales each layer's lr as timm's param_groups_layer_decay does."""

from __future__ import annotations

import pytest
import torch
from finetune_helpers import tiny_net
from torchvision.models.vision_transformer import VisionTransformer

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.params import param_groups

timm = pytest.importorskip("timm")
DECAY = 0.6


def _lr_of(model, config, head):
    """Return {parameter name: the lr its optimizer group gets}."""
    ids = {id(p): n for n, p in model.named_parameters()}
    return {ids[id(p)]: group.lr for group in param_groups(model, config, head) for p in group.params}


def _tiny_timm_vit():
    torch.manual_seed(0)
    return timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, depth=3, img_size=32, patch_size=8, num_classes=5
    )


def _tiny_torchvision_vit(depth=3):
    torch.manual_seed(0)
    return VisionTransformer(
        image_size=12, patch_size=4, num_layers=depth, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10
    )


def test_a_timm_vit_gets_timms_own_lr_scale_for_every_parameter():
    from timm.optim import param_groups_layer_decay

    model = _tiny_timm_vit()
    expected = {}
    ids = {id(p): n for n, p in model.named_parameters()}
    for group in param_groups_layer_decay(model, layer_decay=DECAY):
        expected.update({ids[id(p)]: group["lr_scale"] for p in group["params"]})
    lr = _lr_of(model, train_config({"lr": 0.01, "layer_decay": DECAY}), "head")
    assert lr.keys() == expected.keys()
    assert {n: v / 0.01 for n, v in lr.items()} == pytest.approx(expected)
    assert len(set(expected.values())) == 5  # stem, 3 blocks (the final norm with the last), head


def test_torchvisions_vit_is_numbered_as_timm_numbers_its_own_vit():
    from timm.models import group_parameters

    model = _tiny_torchvision_vit()
    matcher = {
        "stem": r"^class_token|conv_proj|encoder\.pos_embedding",
        "blocks": [(r"^encoder\.layers\.encoder_layer_(\d+)", None), (r"^encoder\.ln", (99999,))],
    }
    timm_ids = group_parameters(model, matcher, reverse=True)
    top = max(timm_ids.values())
    lr = _lr_of(model, train_config({"lr": 0.01, "layer_decay": DECAY}), "heads")
    assert {n: v / 0.01 for n, v in lr.items()} == pytest.approx(
        {n: DECAY ** (top - timm_ids[n]) for n in lr}
    )
    assert lr["conv_proj.weight"] == pytest.approx(0.01 * DECAY**4) and lr["heads.head.weight"] == 0.01


def test_without_layer_decay_the_groups_are_as_before():
    names = [g.name for g in param_groups(_tiny_torchvision_vit(), train_config({"lr": 0.01}), "heads")]
    assert names == ["head weights", "head bias", "backbone weights", "backbone norm", "backbone bias"]


def test_a_model_whose_layers_cannot_be_numbered_is_refused_naming_why():
    with pytest.raises(BadInput) as caught:
        param_groups(tiny_net(), train_config({"layer_decay": 0.75}), "fc")
    message = caught.value.message
    assert "TinyNet" in message and "group_matcher" in message and "VisionTransformer" in message


@pytest.mark.parametrize("value", [0, -0.5, 1.5, float("nan")])
def test_values_outside_0_to_1_are_refused(value):
    with pytest.raises(BadInput) as caught:
        train_config({"layer_decay": value})
    assert "layer_decay" in caught.value.message


def test_a_job_with_layer_decay_trains_each_layer_at_its_lr(digits):
    from finetune_helpers import digits_config

    from engine.train.data import build_datasets
    from engine.train.loop import train

    config = digits_config(digits, optimizer="sgd", lr=0.05, scheduler="none", layer_decay=0.5)
    result = train(_tiny_torchvision_vit(depth=2), config, build_datasets(config))
    assert result.status == "done"
    groups = result.history[-1]["lr_groups"]
    assert groups["head weights"] == 0.05
    assert groups["backbone weights layer 2"] == pytest.approx(0.05 * 0.5)
    assert groups["backbone weights layer 0"] == pytest.approx(0.05 * 0.5**3)
