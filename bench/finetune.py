"""Finetune speed: the project's loop vs a plain PyTorch loop on the same data, seed and order.

Line 1: a 10-epoch head-only finetune (frozen backbone). The project computes each image's
frozen features once and trains the head on them; the plain loop forwards through the whole
model every step. Target: >= 8x faster end to end, final val accuracy within 1 point.
Line 2: a full finetune epoch, project vs plain loop. Target: no slower than 1.05x.

    python bench/finetune.py [--epochs 10] [--size 32] [--model resnet18] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader

from engine.train.config import TrainConfig, train_config
from engine.train.data import EpochBatches, Indexed, build_datasets
from engine.train.loop import train
from engine.train.sample_data import write_digits


def make_model(name: str, head_only: bool) -> nn.Module:
    """Return a seeded model with a 10-class head, everything but the head frozen if asked."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, num_classes=10)
    if head_only:
        for pname, param in model.named_parameters():
            param.requires_grad_(pname.startswith("fc."))
    return model


def plain_loop(model: nn.Module, config: TrainConfig, datasets, head_only: bool) -> float:
    """The reference: forward through everything each step; return the final val accuracy."""
    torch.manual_seed(config.seed)
    if head_only:
        params = [{"params": [model.fc.weight], "weight_decay": config.weight_decay},
                  {"params": [model.fc.bias], "weight_decay": 0.0}]
    else:
        params = [{"params": [p for p in model.parameters() if p.ndim > 1],
                   "weight_decay": config.weight_decay},
                  {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    batches = EpochBatches(len(datasets.train), config.batch_size, config.seed)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.epochs * len(batches))
    loader = DataLoader(Indexed(datasets.train), batch_sampler=batches)
    val_loader = DataLoader(datasets.val, batch_size=max(config.batch_size, 64))
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(config.epochs):
        batches.set_epoch(epoch)
        model.train()
        if head_only:
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        plain_epoch(model, loader, optimizer, loss_fn, scheduler)
        acc = plain_accuracy(model, val_loader)
    return acc


def plain_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> None:
    """Train one epoch the plain way: forward, loss, backward and an optimizer (and scheduler) step
    per batch of (images, labels, indices)."""
    for x, y, _ in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def plain_accuracy(model: nn.Module, val_loader: DataLoader) -> float:
    """Return `model`'s top-1 accuracy in % on `val_loader` (eval mode, no gradients)."""
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for x, y in val_loader:
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
    return 100.0 * correct / seen


def main() -> None:
    """Run both comparisons and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds (best of each)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="ptm-bench-"))
    write_digits(root / "digits", args.size)
    base = {"data": str(root / "digits"), "image_size": args.size, "epochs": args.epochs,
            "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "workers": 0, "seed": 0}

    config = train_config(base)
    datasets = build_datasets(config)
    plain_runs, ours_runs = [], []
    for _ in range(args.rounds):  # alternate, best of each: the machine's load drifts
        started = time.perf_counter()
        result = train(make_model(args.model, True), config, datasets)
        ours_runs.append((time.perf_counter() - started, result.last_val_acc or 0.0))
        started = time.perf_counter()
        plain_acc = plain_loop(make_model(args.model, True), config, datasets, True)
        plain_runs.append((time.perf_counter() - started, plain_acc))
    (plain_s, plain_acc), (ours_s, ours_acc) = min(plain_runs), min(ours_runs)
    print(f"head-only {args.epochs} epochs ({args.model} {args.size}px, digits, best of "
          f"{args.rounds}): plain {plain_s:.1f}s acc {plain_acc:.2f}% | ptm-tui {ours_s:.1f}s "
          f"acc {ours_acc:.2f}% | speedup {plain_s / ours_s:.1f}x (target >= 8x), acc diff "
          f"{abs(plain_acc - ours_acc):.2f} pt (target <= 1)")

    one = train_config({**base, "epochs": 1, "backbone_lr": base["lr"]})
    plain_t, ours_t = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        plain_loop(make_model(args.model, False), one, datasets, False)
        plain_t.append(time.perf_counter() - started)
        started = time.perf_counter()
        train(make_model(args.model, False), one, datasets)
        ours_t.append(time.perf_counter() - started)
    print(f"full finetune, 1 epoch (best of {args.rounds}): plain {min(plain_t):.2f}s | ptm-tui "
          f"{min(ours_t):.2f}s | ratio {min(ours_t) / min(plain_t):.3f}x (target <= 1.05x)")


if __name__ == "__main__":
    main()
