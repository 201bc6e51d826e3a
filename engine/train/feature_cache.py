"""Training only the head: each image's input to the head computed once by the frozen layers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from engine.train.augment import augmenting
from engine.train.bad_images import BadImages
from engine.train.config import TrainConfig
from engine.train.data import UNREADABLE, Datasets, loader_worker_init
from engine.train.dist import DistInfo
from engine.train.events import Events


def in_head(name: str, head: str) -> bool:
    """Return True when the parameter or module `name` lies inside the head at `head` ("" = all)."""
    return head == "" or name == head or name.startswith(head + ".")


def cache_blocker(model: nn.Module, head: str, config: TrainConfig) -> str | None:
    """Return why frozen features cannot be cached now (None when they can)."""
    if not config.feature_cache:
        return "feature_cache is off"
    if augmenting(config):
        return "the data is augmented"
    if not head:
        return "no head found"
    for name, param in model.named_parameters():
        if param.requires_grad and not in_head(name, head):
            return "layers outside the head train"
    for name, module in model.named_modules():
        if in_head(name, head):
            continue
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            return f"dropout {name} outside the head is random in training"
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not config.freeze_bn:
            return "freeze_bn is off, so frozen BatchNorm layers keep updating"
    return None


class FeatureCache:
    """Each sample's input to the head, computed once by the frozen part of the model."""

    def __init__(self) -> None:
        self.train: torch.Tensor | None = None
        self.val: torch.Tensor | None = None


def head_inputs(model: nn.Module, head_path: str, dataset: Any, config: TrainConfig,
                device: torch.device, to_device: Callable[[torch.Tensor], torch.Tensor],
                autocast: Callable[[], Any], should_stop: Callable[[], bool],
                on_batch: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
                ) -> tuple[torch.Tensor | None, str | None]:
    """Return (the head's input for every sample of `dataset` in index order, why not or None).

    The tensor is None when the run is stopping or caching is unsafe; the reason says which.
    `on_batch(targets, indices)` sees each batch's CPU targets (to count unreadable images).
    """
    head = model.get_submodule(head_path)
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple[Any, ...]) -> None:
        captured.append(args[0].detach())

    handle = head.register_forward_pre_hook(hook)
    feats: torch.Tensor | None = None
    budget = config.feature_cache_mb * 2**20
    model.eval()
    workers = config.resolved_workers()
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=False,
                        num_workers=workers, pin_memory=device.type == "cuda",
                        worker_init_fn=loader_worker_init if workers else None)
    try:
        with torch.no_grad(), autocast():
            start = 0
            for x, y in loader:
                if on_batch is not None:
                    on_batch(y, torch.arange(start, start + len(y)))
                if should_stop():
                    return None, None
                captured.clear()
                out = model(to_device(x))
                if len(captured) != 1:
                    return None, "the head runs more than once per forward"
                f = captured[0]
                if feats is None:
                    if not torch.allclose(head(f).float(), out.float(), atol=1e-4, rtol=1e-3):
                        return None, "the head's output is not the model's output"
                    size = len(dataset) * f[0].numel() * f.element_size()
                    if size > budget:
                        return None, f"the features need {size / 2**20:.0f} MiB (> feature_cache_mb)"
                    feats = torch.empty((len(dataset), *f.shape[1:]), dtype=f.dtype, device=device)
                feats[start:start + len(f)] = f
                start += len(f)
    finally:
        handle.remove()
    return feats, None


class HeadOnlyEpochs:
    """The Trainer's head-only epochs on cached features (mixed into Trainer): when they are safe,
    computing the features once, and the targets that go with them.

    Relies on the Trainer's attributes below and its `_to`, `_autocast` and `_note_bad`.
    """

    model: nn.Module
    head: str
    config: TrainConfig
    device: torch.device
    dist: DistInfo
    datasets: Datasets
    events: Events
    bad: BadImages
    cache: FeatureCache
    cache_off_reason: str | None
    should_stop: Callable[[], bool]
    task: Any

    def _features(self, dataset: Any) -> torch.Tensor | None:
        """Return the head's input for every sample of `dataset` in index order (None if unsafe)."""
        feats, reason = head_inputs(self.model, self.head, dataset, self.config, self.device,
                                    self._to, self._autocast, self.should_stop,
                                    on_batch=lambda y, i: self._note_bad(dataset, y, i))
        if reason:
            self.cache_off_reason = reason
        return feats

    def _use_cache(self) -> bool:
        """Return True when this epoch can train the head on cached features."""
        if not self.task.feature_cache:
            task = self.task.name.replace("_", " ")
            reason: str | None = f"the feature cache is for classification, not {task}"
            self._say_no_cache(reason)
        elif self.dist.enabled:
            reason = "several processes train (DDP)"
        else:
            reason = self.cache_off_reason or cache_blocker(self.model, self.head, self.config)
        if reason:
            self.cache.train = self.cache.val = None  # e.g. after a gradual unfreeze
            return False
        if self.cache.train is None:
            self.events.log("head-only epoch without augmentation: computing each image's "
                            "features once (frozen layers), later epochs reuse them")
            started = time.perf_counter()
            self.cache.train = self._features(self.datasets.train)
            self.cache.val = self._features(self.datasets.val) if self.cache.train is not None \
                else None
            if self.cache.train is None or self.cache.val is None:
                self.cache.train = self.cache.val = None
                if self.cache_off_reason:
                    self.events.log(f"feature cache off: {self.cache_off_reason}")
                return False
            self.events.log(f"features cached in {time.perf_counter() - started:.1f}s "
                            f"({tuple(self.cache.train.shape[1:])} per image)")
        return True

    def _say_no_cache(self, reason: str) -> None:
        """Say once, when a head-only epoch of a task without the cache starts, that it runs the
        whole model each step (feature_cache on, every trainable weight in the head)."""
        head_only = all(in_head(n, self.head) for n, p in self.model.named_parameters() if p.requires_grad)
        if self.config.feature_cache and head_only and self.cache_off_reason != reason:
            self.cache_off_reason = reason
            self.events.log(f"head-only epoch without the feature cache: {reason}, so the frozen "
                            "layers run on every step (only the head's weights change)")

    def _targets(self, dataset: Any) -> torch.Tensor:
        """Return every target of `dataset` in index order (without loading images)."""
        base, index = dataset, None
        if isinstance(dataset, torch.utils.data.Subset):
            base, index = dataset.dataset, list(dataset.indices)
        targets = torch.tensor(base.targets)
        if self.bad.count:  # the cached features of an unreadable image are of a blank one
            known = set(self.bad.paths)
            targets[[i for i, (p, _) in enumerate(base.samples) if p in known]] = UNREADABLE
        return (targets[index] if index is not None else targets).to(self.device)
