"""The references' augmentations, from torchvision.transforms.v2: an auto-augment policy and
random erasing per image, MixUp/CutMix per batch (classification)."""

from __future__ import annotations

from typing import Any

import torch

AUTO_AUGMENTS = ("none", "ra", "ta_wide", "augmix", "imagenet")
"""As torchvision's references/classification/presets.py names them."""


def policy_steps(config: Any, mode: Any) -> list[Any]:
    """Return the auto-augment policy config.auto_augment names (on PIL images), or none."""
    from torchvision.transforms import v2

    name = config.auto_augment
    if name == "ra":
        return [v2.RandAugment(interpolation=mode)]
    if name == "ta_wide":
        return [v2.TrivialAugmentWide(interpolation=mode)]
    if name == "augmix":
        return [v2.AugMix(interpolation=mode)]
    if name == "imagenet":
        return [v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET, interpolation=mode)]
    return []


def erasing_steps(config: Any) -> list[Any]:
    """Return RandomErasing with probability config.random_erasing (after Normalize), or none."""
    from torchvision.transforms import v2

    return [v2.RandomErasing(p=config.random_erasing)] if config.random_erasing else []


def batch_mixer(config: Any) -> Any:
    """Return MixUp, CutMix or a random choice of the two per batch (None when both are off)."""
    from torchvision.transforms import v2

    mixers = [
        cls(alpha=alpha)
        for cls, alpha in ((v2.MixUp, config.mixup_alpha), (v2.CutMix, config.cutmix_alpha))
        if alpha
    ]
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


def mix_batch(
    mixer: Any, x: torch.Tensor, y: torch.Tensor, num_classes: int, unreadable: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the batch mixed with probability targets (N, classes); unreadable images (target
    `unreadable`) are left out first, and a batch without readable images is returned as it is."""
    readable = y != unreadable
    if not bool(readable.any()):
        return x, y
    if not bool(readable.all()):
        x, y = x[readable], y[readable]
    one_hot = torch.nn.functional.one_hot(y, num_classes).float()
    return mixer(x, one_hot)


def augmenting(config: Any) -> bool:
    """Return True when any image or batch augmentation is on (then features cannot be cached)."""
    return bool(
        config.augment
        or config.auto_augment != "none"
        or config.random_erasing
        or config.mixup_alpha
        or config.cutmix_alpha
    )
