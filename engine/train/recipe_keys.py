"""The recipe keys of the reference trainers (label smoothing, warmup, EMA, ...): their checks and
the warnings for values that work but rarely help."""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.train.augment import AUTO_AUGMENTS
from engine.train.presets import PRESETS

CLASS_BALANCES = ("none", "weights", "sampler")

FLOAT32_MAX = float(torch.finfo(torch.float32).max)
LR_WARN = 10.0
"""Above this a learning rate is accepted but the job warns: it almost always diverges."""

# key: (lowest, highest, whether the highest is allowed, an example)
RANGES: dict[str, tuple[float, float, bool, Any]] = {
    "label_smoothing": (0.0, 1.0, False, 0.1),
    "clip_grad_norm": (0.0, FLOAT32_MAX, True, 1.0),
    "accumulate_steps": (1, 65536, True, 4),
    "warmup_epochs": (0, 100_000, True, 5),
    "warmup_decay": (0.0, 1.0, True, 0.01),
    "early_stopping": (0, 100_000, True, 5),
    "ema_decay": (0.0, 1.0, False, 0.9998),
    "ema_steps": (1, 1_000_000, True, 32),
    "random_erasing": (0.0, 1.0, True, 0.25),
    "mixup_alpha": (0.0, 100.0, True, 0.2),
    "cutmix_alpha": (0.0, 100.0, True, 1.0),
}


def check_recipe_keys(config: Any, bad: Any) -> None:
    """Raise `bad(key, value, why, fix)` for the first learning rate float32 cannot hold or new
    key out of its range (negative, NaN/Inf, ...)."""
    for key in ("lr", "head_lr", "backbone_lr"):
        value = getattr(config, key)
        if value is not None and math.isfinite(value) and value > FLOAT32_MAX:
            raise bad(
                key,
                value,
                f"the optimizer keeps it in float32, which holds at most {FLOAT32_MAX:.3g}",
                f"use e.g. {key} = 0.01 (ptm-tui lr-find suggests one)",
            )
    for key, (low, high, high_ok, example) in RANGES.items():
        value = getattr(config, key)
        inside = math.isfinite(value) and low <= value and (value <= high if high_ok else value < high)
        if not inside:
            top = f"{high:,g}" if high_ok else f"below {high:g}"
            raise bad(
                key, value, f"it must be a finite number from {low:g} to {top}", f"use e.g. {key} = {example}"
            )
    if config.auto_augment not in AUTO_AUGMENTS:
        raise bad(
            "auto_augment",
            config.auto_augment,
            f"the policies are {', '.join(AUTO_AUGMENTS)}",
            'use e.g. auto_augment = "ta_wide"',
        )
    for key, choices, example in (
        ("preset", PRESETS, "torchvision"),
        ("class_balance", CLASS_BALANCES, "weights"),
    ):
        if getattr(config, key) not in choices:
            raise bad(
                key,
                getattr(config, key),
                f"it is one of {', '.join(choices)}",
                f'use e.g. {key} = "{example}"',
            )
    if not (math.isfinite(config.layer_decay) and 0 < config.layer_decay <= 1):
        raise bad(
            "layer_decay",
            config.layer_decay,
            "each layer's lr is scaled by layer_decay^(layers above it): a number in (0, 1], 1 for off",
            "use e.g. layer_decay = 0.75",
        )
    if config.warmup_decay == 0 and config.warmup_epochs:
        raise bad(
            "warmup_decay",
            0.0,
            "the warmup starts at lr x warmup_decay, and lr 0 never moves",
            "use e.g. warmup_decay = 0.01",
        )
    if config.warmup_epochs > config.epochs:
        raise bad(
            "warmup_epochs",
            config.warmup_epochs,
            f"it must be at most epochs ({config.epochs})",
            "use e.g. warmup_epochs = 1",
        )
    if config.warmup_epochs and config.scheduler == "onecycle":
        raise bad(
            "warmup_epochs",
            config.warmup_epochs,
            "the onecycle schedule has its own warmup",
            'set warmup_epochs = 0 or use scheduler = "cosine"',
        )


CLASSIFICATION_ONLY = (
    "label_smoothing",
    "mixup_alpha",
    "cutmix_alpha",
    "auto_augment",
    "random_erasing",
    "class_balance",
)
"""Keys the classification task alone applies (the others' targets are boxes and masks)."""


def check_task_keys(task: str, config: Any) -> None:
    """Raise BadInput when a key only classification applies is set for another task."""
    from engine.errors import BadInput

    defaults = type(config)()
    for key in CLASSIFICATION_ONLY:
        value = getattr(config, key)
        if task != "classification" and value != getattr(defaults, key):
            raise BadInput(
                f"[train] {key} = {value!r} is for classifiers, and this is a {task} model",
                "it works on class labels; boxes, masks and keypoints would not follow it",
                f"remove {key} from [train]",
            )


def config_warnings(config: Any) -> list[str]:
    """Return the warnings about values that run but rarely train (an lr above 10)."""
    lines = []
    for key in ("lr", "head_lr", "backbone_lr"):
        value = getattr(config, key)
        if value is not None and value > LR_WARN:
            lines.append(
                f"warning: {key} = {value:g} is above {LR_WARN:g}; training usually diverges "
                "(NaN loss); ptm-tui lr-find suggests a learning rate"
            )
    return lines
