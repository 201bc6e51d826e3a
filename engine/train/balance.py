"""class_balance: cross-entropy weights from the class counts ("weights"), or a sampler that draws
every class equally often (torch.utils.data.WeightedRandomSampler, "sampler")."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Subset, WeightedRandomSampler


def train_targets(dataset: Any) -> list[int]:
    """Return the class index of every sample of an ImageFolder/CSV dataset (or a Subset of one),
    read from its list, no image opened."""
    indices: list[int] | None = None
    while isinstance(dataset, Subset):
        indices = [dataset.indices[i] for i in indices] if indices is not None else list(dataset.indices)
        dataset = dataset.dataset
    targets = list(dataset.targets)
    return [targets[i] for i in indices] if indices is not None else targets


def class_counts(targets: list[int], num_classes: int) -> torch.Tensor:
    """Return the number of samples of each class."""
    return torch.bincount(torch.tensor(targets, dtype=torch.long), minlength=num_classes).double()


def class_weights(targets: list[int], num_classes: int) -> torch.Tensor:
    """Return scikit-learn's "balanced" weights, n / (classes x count), 0 for a class with none."""
    counts = class_counts(targets, num_classes)
    present = int((counts > 0).sum())
    weights = torch.where(counts > 0, len(targets) / (present * counts.clamp(min=1)), 0.0)
    return weights.float()


def sample_weights(targets: list[int], num_classes: int) -> torch.Tensor:
    """Return each sample's draw weight, 1 / its class's count: every class is drawn equally often."""
    counts = class_counts(targets, num_classes)
    return (1.0 / counts.clamp(min=1))[torch.tensor(targets, dtype=torch.long)]


def balanced_order(weights: torch.Tensor, seed: int) -> list[int]:
    """Return one epoch's sample order drawn with replacement by `weights` (seeded: a resume draws
    the same)."""
    generator = torch.Generator().manual_seed(seed)
    return list(WeightedRandomSampler(weights, len(weights), replacement=True, generator=generator))


def prepare_balance(task: Any, config: Any, datasets: Any) -> torch.Tensor | None:
    """Apply config.class_balance: give the task its loss weights ("weights"); return the per-sample
    draw weights for the batches ("sampler"), or None."""
    if config.class_balance == "none":
        return None
    targets = train_targets(datasets.train)
    if config.class_balance == "weights":
        task.weigh_classes(class_weights(targets, len(datasets.classes)))
        return None
    return sample_weights(targets, len(datasets.classes))


def describe_balance(config: Any, datasets: Any) -> str:
    """Return the log line that says how the classes are balanced, with their counts."""
    counts = class_counts(train_targets(datasets.train), len(datasets.classes))
    shown = ", ".join(f"{name} {int(n)}" for name, n in list(zip(datasets.classes, counts))[:8])
    how = (
        "cross-entropy weights n / (classes x count)"
        if config.class_balance == "weights"
        else "a sampler drawing every class equally often (with replacement)"
    )
    return f"class balance: {how}; training images per class: {shown}" + (
        ", ..." if len(datasets.classes) > 8 else ""
    )
