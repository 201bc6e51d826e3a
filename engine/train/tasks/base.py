"""The Task base every task module builds on, and the data path all of them read (kept apart
from the registry in __init__ so the task modules and the registry do not import each other)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.errors import BadInput

if TYPE_CHECKING:
    from torch import nn

    from engine.train.config import TrainConfig
    from engine.train.data import Datasets


class Task:
    """What one kind of model needs from the loop; see classification.py for the simplest."""

    name = ""
    score_name = ""
    """What the record's `val_acc` (the score a best checkpoint is chosen by) measures, in %."""
    data_format = ""
    """The data this task reads, in the user's words (for messages and the launch form)."""
    feature_cache = False
    """Whether head-only epochs may train on cached features (classification only)."""

    def check_data(self, config: TrainConfig) -> dict[str, Any]:
        """Refuse data a job could not train on (BadInput) before the job exists; return what was
        found (images, annotations, categories) as plain data."""
        raise NotImplementedError

    def build_datasets(self, config: TrainConfig, meta: dict[str, Any] | None, channels: int = 3) -> Datasets:
        """Return the train and validation datasets of config.data (images with the model's
        input `channels` where the task reads plain images)."""
        raise NotImplementedError

    def prepare(self, model: nn.Module, config: TrainConfig) -> None:
        """Adjust the model to the config before training (e.g. the detector's input size)."""

    def model_meaning(self, model: nn.Module) -> dict[str, Any]:
        """Return what the prepared model's checkpoints must say beyond the data (e.g. its size)."""
        return {}

    def head(self, model: nn.Module) -> str:
        """Return the module path of the part trained at the head's learning rate."""
        raise NotImplementedError

    def check_head(self, model: nn.Module, found: dict[str, Any]) -> None:
        """Refuse (BadInput) a head whose outputs cannot fit what check_data found (before launch)."""

    def check_model(self, trainer: Any) -> None:
        """Refuse (BadInput) a model whose head cannot predict the data's classes (at the start)."""

    def collate(self) -> Any:
        """Return the DataLoader collate function of (input, target, index) items (None: default)."""
        return None

    def unreadable(self, targets: Any) -> torch.Tensor:
        """Return the batch's targets as a CPU tensor where unreadable images are UNREADABLE."""
        raise NotImplementedError

    def to_device(self, trainer: Any, x: Any, y: Any) -> tuple[Any, Any]:
        """Return the batch moved to the trainer's device."""
        raise NotImplementedError

    def train_step(self, module: nn.Module, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (the loss to back-propagate, a 1-D tensor of per-batch figures to sum)."""
        raise NotImplementedError

    def empty_sums(self) -> list[float]:
        """Return the running sums of a new epoch (the last one counts the samples)."""
        raise NotImplementedError

    def accumulate(self, sums: list[float], loss: float, figures: list[float]) -> float:
        """Add one step's loss and figures to `sums`; return the loss to show for the step."""
        raise NotImplementedError

    def train_record(self, sums: list[float]) -> dict[str, float]:
        """Return the epoch's training metrics (train_loss, ...) from its sums."""
        raise NotImplementedError

    def evaluate(self, trainer: Any) -> dict[str, Any]:
        """Return the validation metrics: `val_loss` (None when the model has none in eval mode),
        `val_acc` (the score, in %) and the task's own figures."""
        raise NotImplementedError


def data_path(config: TrainConfig, what: str = "data") -> Path:
    """Return config.data (or another path key) expanded, or raise BadInput when it is empty."""
    value = getattr(config, what)
    if not value:
        raise BadInput(
            "no training data given",
            f"[train] {what} is empty",
            f'set {what} = "path/to/data" in [train] or pass --data PATH',
        )
    return Path(value).expanduser()


def is_task_data(path: Path) -> bool:
    """Return True for data only a detection or segmentation model reads (COCO JSON, masks/)."""
    return path.suffix.lower() == ".json" or any(
        (path / sub / "masks").is_dir() for sub in ("", "train", "val")
    )
