"""Issue 21: preset = "torchvision" fills [train] from the documented recipe of the opened weights."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
import torch
import torchvision.models as tvm

from engine.errors import BadInput
from engine.train.config import TrainConfig, train_config
from engine.train.config_sources import show_config
from engine.train.preset_table import PORTED, README, RECIPES

VIT = {"name": "vit_b_16", "weights": "default"}


def _meta_links() -> dict[str, list[str]]:
    """Return {recipe link: [model names]} of every torchvision classification weights' meta."""
    links: dict[str, list[str]] = {}
    for name in tvm.list_models(module=tvm):
        for weights in tvm.get_model_weights(name):
            links.setdefault(weights.meta.get("recipe", ""), []).append(name)
    return links


def test_each_table_link_is_a_recipe_link_of_torchvision_weights_it_applies_to():
    links = _meta_links()
    for recipe in RECIPES:
        assert recipe.url in links, recipe.name
        assert not recipe.models or set(recipe.models) <= set(links[recipe.url]), recipe.name


def test_every_readme_section_the_meta_links_is_in_the_table_or_said_to_be_ported():
    held = {r.url for r in RECIPES} | set(PORTED)
    readme_links = {url for url in _meta_links() if url.startswith(README)}
    assert readme_links and readme_links <= held, readme_links - held


def test_vit_b_16_gets_its_readme_recipe_scaled_for_finetuning():
    config = train_config({"preset": "torchvision", "epochs": 10}, model=VIT)
    # references/classification README, vit_b_16: --opt adamw --lr 0.003 --wd 0.3
    # --lr-warmup-epochs 30 (of 300) --lr-warmup-decay 0.033 --label-smoothing 0.11 --mixup-alpha 0.2
    # --auto-augment ra --clip-grad-norm 1 --cutmix-alpha 1.0 --model-ema
    assert (config.optimizer, config.weight_decay, config.scheduler) == ("adamw", 0.3, "cosine")
    assert (config.label_smoothing, config.mixup_alpha, config.cutmix_alpha) == (0.11, 0.2, 1.0)
    assert (config.auto_augment, config.clip_grad_norm, config.warmup_decay) == ("ra", 1.0, 0.033)
    assert config.lr == pytest.approx(0.0003)  # a tenth: finetuning
    assert config.warmup_epochs == 1  # 30 of 300 epochs = 1 of 10
    assert 0 < config.ema_decay < 1 and config.batch_size == TrainConfig.batch_size


def test_keys_the_recipe_or_a_flag_sets_win_over_the_preset():
    config = train_config(
        {"preset": "torchvision", "label_smoothing": 0.0, "lr": 0.05}, {"optimizer": "sgd"}, model=VIT
    )
    assert (config.label_smoothing, config.lr, config.optimizer) == (0.0, 0.05, "sgd")
    assert config.mixup_alpha == 0.2


def test_quick_is_the_defaults():
    assert asdict(train_config({"preset": "quick"}, model=VIT)) == {
        **asdict(TrainConfig()),
        "preset": "quick",
    }
    assert TrainConfig().preset == "quick"


def test_a_step_schedule_decays_as_far_over_the_finetune_as_over_the_documented_run():
    config = train_config(
        {"preset": "torchvision", "epochs": 10}, model={"name": "mobilenet_v2", "weights": "IMAGENET1K_V1"}
    )
    # README mobilenet_v2: --epochs 300 --lr-step-size 1 --lr-gamma 0.98 --wd 0.00004
    assert config.scheduler == "step" and config.weight_decay == 4e-5
    decays = 10 // config.step_epochs
    assert math.log(config.gamma) * decays == pytest.approx(300 * math.log(0.98), rel=1e-3)


@pytest.mark.parametrize(
    "model, words",
    [
        ({"name": "googlenet", "weights": "default"}, ["ported"]),
        ({"name": "efficientnet_v2_l", "weights": "default"}, ["ported"]),
        ({"name": "resnet50", "weights": "none"}, ["carry no torchvision recipe"]),
        ({"name": "regnet_y_16gf", "weights": "IMAGENET1K_SWAG_E2E_V1"}, ["does not hold", "SWAG"]),
    ],
)
def test_weights_without_a_documented_recipe_are_refused_naming_why(model, words):
    with pytest.raises(BadInput) as caught:
        train_config({"preset": "torchvision"}, model=model)
    assert all(word in caught.value.message for word in words), caught.value.message
    assert 'preset = "quick"' in caught.value.message


def test_an_unknown_preset_is_refused():
    with pytest.raises(BadInput) as caught:
        train_config({"preset": "timm"})
    assert "quick, torchvision" in caught.value.message


def test_show_config_names_where_each_value_came_from():
    rows = {r["key"]: r for r in show_config({"preset": "torchvision", "epochs": 4}, {"lr": 0.02}, VIT)}
    assert rows["lr"] == {"key": "lr", "value": 0.02, "source": "CLI flag"}
    assert rows["epochs"]["source"] == "recipe file"
    assert rows["label_smoothing"]["source"] == "preset torchvision (vit_b_16 recipe)"
    assert rows["warmup_epochs"]["source"] == "preset torchvision (vit_b_16 recipe, scaled from 30)"
    assert rows["seed"]["source"] == "default"
    assert set(rows) == set(asdict(TrainConfig()))


def test_a_digits_finetune_with_the_vit_b_16_preset_runs_end_to_end(digits):
    from finetune_helpers import digits_train
    from torchvision.models.vision_transformer import VisionTransformer

    from engine.train.data import build_datasets
    from engine.train.loop import train

    table = {k: v for k, v in digits_train(digits, epochs=2).items() if k not in ("optimizer", "lr")}
    config = train_config({**table, "preset": "torchvision"}, model=VIT)
    assert (config.mixup_alpha, config.auto_augment, config.ema_decay > 0) == (0.2, "ra", True)
    assert config.warmup_epochs == 1  # 30 of 300 epochs is 1 of 2
    torch.manual_seed(0)
    vit = VisionTransformer(
        image_size=12, patch_size=4, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10
    )
    result = train(vit, config, build_datasets(config))
    assert result.status == "done" and result.epoch == 2
    # warmed up to lr over epoch 1, then cosine to 0 over epoch 2
    assert [r["lr"] for r in result.history] == pytest.approx([config.lr, 0.0], abs=1e-12)


def test_a_job_made_with_the_preset_keeps_the_filled_values_in_its_spec(digits):
    import tomllib

    from engine.edit.recipe import Recipe
    from engine.jobs.launch import create_job

    recipe = Recipe(
        model=dict(VIT),
        edits=[{"op": "replace_head", "num_classes": 10}],
        train={"data": str(digits), "image_size": 32, "preset": "torchvision", "epochs": 3},
    )
    job = create_job(recipe, {"label_smoothing": 0.05}, job_id="preset-job")
    spec = tomllib.loads((job / "spec.toml").read_text())["train"]
    assert spec["preset"] == "torchvision" and spec["label_smoothing"] == 0.05  # the flag wins
    assert (spec["optimizer"], spec["mixup_alpha"], spec["warmup_decay"]) == ("adamw", 0.2, 0.033)
