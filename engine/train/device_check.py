"""The finetune's device and precision, checked on this machine before a job exists."""

from __future__ import annotations

from typing import Any

import torch

from engine.train.dist import resolve_device
from engine.train.precision import Precision, choose_precision


def check_training_device(config: Any) -> tuple[torch.device, Precision]:
    """Return the device and precision `config` (a TrainConfig) trains with here; raise BadInput
    naming what torch sees when its device is not here or cannot run its `amp`."""
    device = resolve_device(config.device)
    return device, choose_precision(config.amp, device)
