"""Issue 21: preset = "torchvision" for the weights torchvision trained with its "new training
recipe" (pytorch/vision issue 3995), the DEFAULT of resnet101/152, resnext and wide_resnet: their
meta links the issue's #new-recipe sections, and their docs say the recipe was used as is."""

from __future__ import annotations

import pytest
import torchvision.models as tvm

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.preset_table import NEW_RECIPE

ISSUE = "https://github.com/pytorch/vision/issues/3995#"


def _weights_of_the_new_recipe(as_is: bool) -> list[tuple[str, str]]:
    """Return (model, weights) of every torchvision weights whose meta links issue 3995's new
    recipe sections and whose docs say it was used as is (`as_is`) or modified."""
    found = []
    for name in tvm.list_models(module=tvm):
        for weights in tvm.get_model_weights(name):
            if not weights.meta.get("recipe", "").startswith(ISSUE + "new-recipe"):
                continue
            modified = "modified version" in weights.meta.get("_docs", "")
            if modified != as_is:
                found.append((name, weights.name))
    return found


AS_IS = _weights_of_the_new_recipe(as_is=True)
MODIFIED = _weights_of_the_new_recipe(as_is=False)


def test_torchvision_has_both_kinds_of_new_recipe_weights():
    assert ("resnet101", "IMAGENET1K_V2") in AS_IS and ("regnet_y_16gf", "IMAGENET1K_V2") in MODIFIED


@pytest.mark.parametrize("name, weights", AS_IS)
def test_weights_trained_with_the_new_recipe_get_it_scaled_for_finetuning(name, weights):
    config = train_config({"preset": "torchvision", "epochs": 60}, model={"name": name, "weights": weights})
    assert config.lr == pytest.approx(NEW_RECIPE["lr"] * 0.1)
    assert (config.optimizer, config.scheduler) == ("sgd", "cosine")
    assert config.weight_decay == NEW_RECIPE["weight_decay"]
    assert config.auto_augment == NEW_RECIPE["auto_augment"]
    assert (config.label_smoothing, config.mixup_alpha, config.cutmix_alpha) == (0.1, 0.2, 1.0)
    assert config.random_erasing == NEW_RECIPE["random_erasing"]
    assert config.warmup_epochs == max(1, round(60 * 5 / 600))  # 5 of 600 epochs, at least 1
    assert config.ema_decay > 0


def test_the_default_weights_of_resnet101_are_the_new_recipe_s():
    assert tvm.get_model_weights("resnet101").DEFAULT.name == "IMAGENET1K_V2"
    config = train_config({"preset": "torchvision"}, model={"name": "resnet101", "weights": "default"})
    assert config.auto_augment == "ta_wide" and config.lr == pytest.approx(0.05)


@pytest.mark.parametrize("name, weights", MODIFIED)
def test_weights_of_a_modified_new_recipe_are_refused_saying_it_is_undocumented(name, weights):
    with pytest.raises(BadInput) as caught:
        train_config({"preset": "torchvision"}, model={"name": name, "weights": weights})
    assert "modified version" in caught.value.message and 'preset = "quick"' in caught.value.message
