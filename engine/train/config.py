"""The [train] table of a recipe as a validated dataclass with defaults."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from engine.errors import BadInput
from engine.train.precision import AMP_CHOICES, amp_value
from engine.train.recipe_keys import check_recipe_keys
from engine.words import a_or_an

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "cosine", "step", "onecycle")
AUGMENTS = ("crop", "flip", "color")
MAX_IMAGE_SIZE = 4096


@dataclass
class TrainConfig:
    """How to finetune: data, sizes, optimizer, schedule, device. Keys match the [train] table."""

    data: str = ""
    """An ImageFolder root with train/ and val/ (or one folder split by `val_split`), a COCO JSON
    (detection, keypoints, instance segmentation) or an images/ + masks/ folder (segmentation)."""
    val_split: float = 0.2
    val_data: str = ""
    """The validation set when it lives apart: a COCO JSON (detection) or a folder."""
    images: str = ""
    """Where a COCO JSON's file_name paths start (default: the JSON's own folder)."""
    image_size: int | None = None
    """Square input size; None uses the weights' own resize/crop (or 256/224)."""
    batch_size: int = 32
    epochs: int = 10
    optimizer: str = "sgd"
    lr: float = 0.01
    """The head's learning rate (and the base of the backbone's: lr/10) unless head_lr is given."""
    head_lr: float | None = None
    """The head's learning rate; when given, `lr` is the backbone's."""
    backbone_lr: float | None = None
    """The backbone's learning rate, overriding both rules above."""
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    step_epochs: int = 0
    """For scheduler "step": epochs between decays (0: a third of the epochs)."""
    gamma: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    """Mixed precision: "bf16" or "fp16" autocast on whichever device trains (fp16 with a GradScaler),
    "off" (fp32), or true/"auto": bf16 on a GPU that has it, fp32 elsewhere (engine/train/precision.py)."""
    channels_last: bool = False
    compile: bool = False
    """torch.compile the model before training (slow to start, most of all on the CPU)."""
    workers: int = -1
    """DataLoader worker processes; -1 picks min(8, cores // 2)."""
    augment: list[str] = field(default_factory=list)
    flip_pairs: list[str] = field(default_factory=list)
    """Keypoints that swap when an image is flipped, as "left_eye:right_eye" (default: the names'
    left/right, l_/r_)."""
    bias_lr_mult: float = 1.0
    head_epochs: int = 0
    """Gradual unfreeze: train only the head for this many epochs, then the rest (fine_tune)."""
    freeze_bn: bool = True
    """Keep BatchNorm layers whose parameters are frozen in eval mode."""
    keep_last: int = 2
    head: str | None = None
    """The head's module path; None finds it."""
    feature_cache: bool = True
    """Compute frozen features once when only the head trains and nothing is augmented."""
    feature_cache_mb: int = 2048
    log_every: int = 20
    diagnostics_every: int = -1
    """Steps between per-layer learning measurements; -1: about 4 per epoch; 0: off."""
    max_bad_images: float = 0.01
    """Unreadable images are skipped; the job fails when more than this fraction (and 10) are."""
    force: bool = False
    """Accept workers > 2x the cores and image sizes > 4096 (the sanity limits)."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing of the training loss (val_loss stays plain), as torchvision's."""
    clip_grad_norm: float = 0.0
    """Clip the gradients' total norm to this before each update (0: off)."""
    accumulate_steps: int = 1
    """Batches whose gradients add up to one update (an effective batch of batch_size x this)."""
    warmup_epochs: int = 0
    """Epochs of linear warmup from lr x warmup_decay to lr before the scheduler (0: off)."""
    warmup_decay: float = 0.01
    early_stopping: int = 0
    """Stop when the validation score has not improved for this many epochs (0: off)."""
    ema_decay: float = 0.0
    """Keep an exponential moving average of the weights with this decay (0: off); validation and
    the checkpoints use it."""
    ema_steps: int = 32
    """Optimizer updates between EMA updates."""
    auto_augment: str = "none"
    """An auto-augment policy per training image: none, ra, ta_wide, augmix, imagenet."""
    random_erasing: float = 0.0
    """The probability of erasing a random rectangle of each training image (RandomErasing)."""
    mixup_alpha: float = 0.0
    """MixUp of each training batch with this Beta alpha (0: off); with cutmix_alpha, one of the two."""
    cutmix_alpha: float = 0.0
    """CutMix of each training batch with this Beta alpha (0: off)."""
    preset: str = "quick"
    """Where unset keys come from: "quick" (these defaults) or "torchvision" (the documented recipe
    that trained the opened weights, scaled for finetuning: engine/train/preset_table.py)."""
    class_balance: str = "none"
    """none; weights (cross-entropy weights from the class counts); sampler (a balanced sampler)."""
    layer_decay: float = 1.0
    """ViT-style models: each layer's lr is scaled by layer_decay^(layers above it), as timm does
    (1: off; then the backbone's lr defaults to lr, the decay shrinking the lower layers)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a TOML-friendly dict (None values left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def resolved_workers(self) -> int:
        """Return the number of DataLoader workers to use."""
        if self.workers >= 0:
            return self.workers
        return min(8, (os.cpu_count() or 1) // 2)


def _bad(key: str, value: Any, why: str, fix: str) -> BadInput:
    """Return the error for a bad [train] value; it carries `field` and `value` so a form can
    say it in its own words (tui/screens/train/launch.py)."""
    error = BadInput(f"[train] {key} = {value!r} is not valid", why, fix)
    error.field, error.value = key, value  # type: ignore[attr-defined]
    return error


def _coerce(key: str, value: Any, default: Any, kind: str) -> Any:
    """Convert `value` to the type the field expects, or raise BadInput."""
    if value is None:
        return None
    if key == "amp":
        try:
            return amp_value(value)
        except ValueError:
            raise _bad(key, value, f"amp is one of {', '.join(AMP_CHOICES)}, true or false",
                       'use e.g. amp = "bf16" (or amp = false for fp32)') from None
    try:
        if kind in ("int", "int | None"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind in ("float", "float | None"):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if not isinstance(value, (bool, int)):
                raise ValueError
            return bool(value)
        if kind == "list[str]":
            if value is True:
                return ["crop", "flip"]
            if value is False or value == "":
                return []
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            return [str(part) for part in value]
        return str(value)
    except (TypeError, ValueError):
        raise _bad(key, value, f"it should be {kind.replace(' | None', '')}",
                   f"write {a_or_an(kind.replace(' | None', ''))} value, e.g. {key} = {default!r}") from None


def train_config(table: dict[str, Any] | None, overrides: dict[str, Any] | None = None,
                 model: dict[str, Any] | None = None) -> TrainConfig:
    """Return the validated TrainConfig of a [train] table, with `overrides` (CLI flags) on top;
    with the recipe's `model` (name, weights), preset = "torchvision" fills the keys left unset."""
    merged = dict(table or {})
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if model is not None:
        from engine.train.presets import with_preset

        merged = with_preset(merged, model, TrainConfig.epochs)[0]
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = sorted(set(merged) - set(known))
    if unknown:
        raise BadInput(f"[train] has unknown keys: {', '.join(unknown)}",
                       f"the keys are: {', '.join(known)}", "fix or remove those keys")
    defaults = TrainConfig()
    values = {key: _coerce(key, value, getattr(defaults, key), str(known[key].type))
              for key, value in merged.items()}
    config = TrainConfig(**values)
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Raise BadInput naming the first value that cannot work."""
    c = config
    if c.optimizer not in OPTIMIZERS:
        raise _bad("optimizer", c.optimizer, f"the optimizers are {', '.join(OPTIMIZERS)}",
                   'use e.g. optimizer = "adamw"')
    if c.scheduler not in SCHEDULERS:
        raise _bad("scheduler", c.scheduler, f"the schedulers are {', '.join(SCHEDULERS)}",
                   'use e.g. scheduler = "cosine"')
    bad_aug = [a for a in c.augment if a not in AUGMENTS]
    if bad_aug:
        raise _bad("augment", c.augment, f"the augmentations are {', '.join(AUGMENTS)}",
                   'use e.g. augment = ["crop", "flip"]')
    if not (c.device in ("auto", "cpu", "cuda") or
            (c.device.startswith("cuda:") and c.device[5:].isdigit())):
        raise _bad("device", c.device, "devices are auto, cpu, cuda or cuda:N", 'use device = "auto"')
    if not 0.0 <= c.val_split < 1.0:
        raise _bad("val_split", c.val_split, "it is the fraction of images held out, in [0, 1)",
                   "use e.g. val_split = 0.2")
    for key, most in (("batch_size", 65536), ("epochs", 100_000), ("keep_last", 1000),
                      ("log_every", 1_000_000)):
        if not 1 <= getattr(c, key) <= most:
            raise _bad(key, getattr(c, key), f"it must be at least 1 and at most {most:,}",
                       f"set {key} to a value in that range")
    if c.image_size is not None and c.image_size < 8:
        raise _bad("image_size", c.image_size, "images smaller than 8 px break most models",
                   "use e.g. image_size = 224")
    if c.image_size is not None and c.image_size > MAX_IMAGE_SIZE and not c.force:
        raise _bad("image_size", c.image_size, f"more than {MAX_IMAGE_SIZE} px a side needs "
                   "gigabytes per image", "use e.g. image_size = 224 (or force = true / --force)")
    cores = os.cpu_count() or 1
    if c.workers < -1:
        raise _bad("workers", c.workers, "it is a number of processes (-1 picks one)",
                   "use workers = -1, 0 (load in the trainer) or a few")
    if c.workers > 2 * cores and not c.force:
        raise _bad("workers", c.workers, f"this machine has {cores} cores; more than "
                   f"{2 * cores} loader processes only cost memory",
                   f"use workers = {min(8, cores)} or fewer (or force = true / --force)")
    if not math.isfinite(c.lr) or c.lr <= 0:
        raise _bad("lr", c.lr, "a learning rate must be a finite number > 0",
                   "use e.g. lr = 0.01")
    for key in ("head_lr", "backbone_lr", "momentum", "weight_decay", "gamma",
                "bias_lr_mult"):
        value = getattr(c, key)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise _bad(key, value, "it must be a finite number >= 0", f"use e.g. {key} = 0.01")
    if not 0.0 <= c.max_bad_images < 1.0:
        raise _bad("max_bad_images", c.max_bad_images, "it is a fraction of the images, in [0, 1)",
                   "use e.g. max_bad_images = 0.01")
    if c.feature_cache_mb < 0:
        raise _bad("feature_cache_mb", c.feature_cache_mb, "it must be >= 0",
                   "use e.g. feature_cache_mb = 2048")
    if c.head_epochs < 0 or c.head_epochs > c.epochs:
        raise _bad("head_epochs", c.head_epochs, f"it must be between 0 and epochs ({c.epochs})",
                   "use e.g. head_epochs = 1")
    if c.diagnostics_every < -1:
        raise _bad("diagnostics_every", c.diagnostics_every, "it is -1 (automatic), 0 (off) or a step count",
                   "use e.g. diagnostics_every = 50")
    if c.step_epochs < 0:
        raise _bad("step_epochs", c.step_epochs, "it must be >= 0", "use e.g. step_epochs = 3")
    check_recipe_keys(c, _bad)
