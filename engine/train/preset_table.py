"""The training recipes torchvision documents for its classification weights, in [train] key names.

Each entry is what torchvision's references/classification/README.md (or, for resnet50's
IMAGENET1K_V2 weights, the recipe its meta links: the "How to train state-of-the-art models"
blog post, pytorch/vision issue 3995) says trained the weights, keyed by the `recipe` link the
weights' meta carries. Values are the documented ones for training from scratch on ImageNet;
engine/train/presets.py scales them for finetuning (README: "Recipe presets"):

- lr: a tenth of the documented one (finetuning starts from trained weights; the backbone then
  gets a tenth of that, as always);
- epochs and batch_size: not set (your data and memory decide); the documented ones scale the rest;
- warmup_epochs and step_epochs: the same fraction of your epochs as of the documented epochs
  (at least 1), gamma so the step schedule decays as far over your run as over theirs;
- EMA (--model-ema): on with decay 0.99 every update, a horizon of ~100 updates: torchvision's
  0.99998 every 32 updates, adjusted per ImageNet epoch, would barely move in a short finetune;
- not applied (no key here, or this tool does it already): --ra-sampler, crop/resize sizes (the
  weights' own transforms are used), --norm-weight-decay 0 and --bias-weight-decay 0 (always 0
  here), --lr-min, --transformer-embedding-decay, --interpolation, --amp, --sync-bn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

README = "https://github.com/pytorch/vision/tree/main/references/classification"
DEFAULTS: dict[str, Any] = {
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "scheduler": "step",
    "step_epochs": 30,
    "gamma": 0.1,
    "epochs": 90,
    "batch_size": 32,
}
"""train.py's defaults, the README's table of "the following parameters" unless a recipe says."""

EMA = {"ema_decay": 0.99998, "ema_steps": 32}
"""--model-ema with train.py's default decay and steps."""

NEW_RECIPE = {
    "batch_size": 128,
    "lr": 0.5,
    "scheduler": "cosine",
    "warmup_epochs": 5,
    "auto_augment": "ta_wide",
    "epochs": 600,
    "random_erasing": 0.1,
    "weight_decay": 2e-5,
    "label_smoothing": 0.1,
    "mixup_alpha": 0.2,
    "cutmix_alpha": 1.0,
    **EMA,
}
"""The recipe of resnet50's IMAGENET1K_V2 (and efficientnet_v2's, shufflenet_v2_x1_5's)."""
NEW_RECIPE_ISSUE = "https://github.com/pytorch/vision/issues/3995"
"""Where torchvision's "new training recipe" is documented; its V2 weights' meta links its sections."""
NEW_RECIPE_AS_IS = ("resnet101", "resnet152", "resnext50_32x4d", "wide_resnet101_2")
NEW_RECIPE_FIXRES = ("resnext101_32x8d", "wide_resnet50_2")
"""The models whose V2 weights' docs say the new recipe was used as is (#new-recipe, and
#new-recipe-with-fixres, which differs in crop sizes only, not applied here); regnet's, linking the
same sections, say "a modified version" and are refused."""

VIT_ADAMW = {
    "epochs": 300,
    "batch_size": 512,
    "optimizer": "adamw",
    "lr": 0.003,
    "weight_decay": 0.3,
    "scheduler": "cosine",
    "warmup_epochs": 30,
    "warmup_decay": 0.033,
    "label_smoothing": 0.11,
    "mixup_alpha": 0.2,
    "auto_augment": "ra",
    "clip_grad_norm": 1.0,
    "cutmix_alpha": 1.0,
    **EMA,
}
SWIN = {
    "epochs": 300,
    "batch_size": 128,
    "optimizer": "adamw",
    "lr": 0.001,
    "weight_decay": 0.05,
    "scheduler": "cosine",
    "warmup_epochs": 20,
    "warmup_decay": 0.01,
    "label_smoothing": 0.1,
    "mixup_alpha": 0.8,
    "clip_grad_norm": 5.0,
    "cutmix_alpha": 1.0,
    "random_erasing": 0.25,
    "auto_augment": "ta_wide",
    **EMA,
}
REGNET = {"epochs": 100, "weight_decay": 5e-5, "scheduler": "cosine", "warmup_epochs": 5, "warmup_decay": 0.1}


@dataclass(frozen=True)
class Recipe:
    """One documented recipe: its name, the meta link that points to it, and its settings."""

    name: str
    url: str
    settings: dict[str, Any]
    models: tuple[str, ...] = ()
    """The model names it applies to when several recipes share a link (empty: all)."""

    def documented(self) -> dict[str, Any]:
        """Return every documented setting: train.py's defaults under the recipe's own."""
        return {**DEFAULTS, **self.settings}


def _readme(anchor: str) -> str:
    return f"{README}#{anchor}"


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "vgg with BatchNorm", _readme("alexnet-and-vgg"), {}, ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")
    ),
    Recipe("alexnet and vgg", _readme("alexnet-and-vgg"), {"lr": 0.01}),
    Recipe("resnet", _readme("resnet"), {}),
    Recipe("resnext", _readme("resnext"), {"epochs": 100}),
    Recipe(
        "mobilenet_v2",
        _readme("mobilenetv2"),
        {"epochs": 300, "lr": 0.045, "weight_decay": 4e-5, "step_epochs": 1, "gamma": 0.98},
    ),
    Recipe(
        "mobilenet_v3",
        _readme("mobilenetv3-large--small"),
        {
            "epochs": 600,
            "optimizer": "rmsprop",
            "batch_size": 128,
            "lr": 0.064,
            "weight_decay": 1e-5,
            "step_epochs": 2,
            "gamma": 0.973,
            "auto_augment": "imagenet",
            "random_erasing": 0.2,
        },
    ),
    Recipe(
        "efficientnet_v2", _readme("efficientnet-v2"), NEW_RECIPE, ("efficientnet_v2_s", "efficientnet_v2_m")
    ),
    Recipe(
        "regnet_y_400mf",
        _readme("small-models"),
        {**REGNET, "batch_size": 128, "lr": 0.4},
        ("regnet_y_400mf",),
    ),
    Recipe("regnet small models", _readme("small-models"), {**REGNET, "batch_size": 128, "lr": 0.8}),
    Recipe("regnet medium models", _readme("medium-models"), {**REGNET, "batch_size": 64, "lr": 0.4}),
    Recipe("regnet large models", _readme("large-models"), {**REGNET, "batch_size": 32, "lr": 0.2}),
    Recipe("vit_b_16", _readme("vit_b_16"), VIT_ADAMW),
    Recipe("vit_b_32", _readme("vit_b_32"), {**VIT_ADAMW, "auto_augment": "imagenet"}),
    Recipe(
        "vit_l_16",
        _readme("vit_l_16"),
        {
            "epochs": 600,
            "batch_size": 128,
            "lr": 0.5,
            "scheduler": "cosine",
            "warmup_epochs": 5,
            "label_smoothing": 0.1,
            "mixup_alpha": 0.2,
            "auto_augment": "ta_wide",
            "random_erasing": 0.1,
            "weight_decay": 2e-5,
            "clip_grad_norm": 1.0,
            "cutmix_alpha": 1.0,
            **EMA,
        },
    ),
    Recipe("vit_l_32", _readme("vit_l_32"), VIT_ADAMW),
    Recipe(
        "convnext",
        _readme("convnext"),
        {**NEW_RECIPE, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05},
    ),
    Recipe("swin", _readme("swintransformer"), SWIN),
    Recipe("swin_v2", _readme("swintransformer-v2"), SWIN),
    Recipe(
        "maxvit",
        _readme("maxvit"),
        {
            "epochs": 400,
            "batch_size": 128,
            "optimizer": "adamw",
            "lr": 3e-3,
            "weight_decay": 0.05,
            "scheduler": "cosine",
            "warmup_epochs": 32,
            "label_smoothing": 0.1,
            "mixup_alpha": 0.8,
            "clip_grad_norm": 1.0,
            "auto_augment": "ta_wide",
            **EMA,
        },
    ),
    Recipe(
        "resnet50 IMAGENET1K_V2",
        f"{NEW_RECIPE_ISSUE}#issuecomment-1013906621",
        NEW_RECIPE,
    ),
    Recipe("new training", f"{NEW_RECIPE_ISSUE}#new-recipe", NEW_RECIPE, NEW_RECIPE_AS_IS),
    Recipe(
        "new training (FixRes)", f"{NEW_RECIPE_ISSUE}#new-recipe-with-fixres", NEW_RECIPE, NEW_RECIPE_FIXRES
    ),
)

PORTED = {
    _readme("googlenet"): "ported from the original paper, not trained by torchvision",
    _readme("inception-v3"): "ported from the original paper, not trained by torchvision",
    _readme("efficientnet-v1"): "ported from timm and EfficientNet-PyTorch, not trained by torchvision",
}
"""README sections that document no training recipe, and why."""
PORTED_MODELS = {"efficientnet_v2_l": "ported from the original paper, not trained by torchvision"}


def find_recipe(url: str, model: str) -> Recipe | None:
    """Return the documented recipe the weights' `recipe` link names for `model`, or None."""
    for recipe in RECIPES:
        if recipe.url == url and (not recipe.models or model in recipe.models):
            return recipe
    return None
