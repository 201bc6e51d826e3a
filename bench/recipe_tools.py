"""What each recipe tool costs per epoch: the project's loop with one tool on vs with none, and the
loop with none vs a plain PyTorch loop, on a tiny ViT and the digits (CPU).

Each run trains `--epochs` epochs from the same seed; an epoch's cost is the best epoch's CPU
seconds of this process (train + validation, one torch thread, no loader workers), which other
work on a shared machine disturbs far less than wall time. Rounds alternate over the tools and
the best of each is kept.

    python bench/recipe_tools.py [--epochs 3] [--rounds 2] [--images 600] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from finetune import plain_accuracy, plain_epoch  # bench/ is on sys.path when a bench runs
from torch import nn
from torch.utils.data import DataLoader
from torchvision.models.vision_transformer import VisionTransformer

from engine.train.config import TrainConfig, train_config
from engine.train.data import EpochBatches, Indexed, build_datasets
from engine.train.events import Events
from engine.train.loop import train
from engine.train.sample_data import write_digits

SIZE = 16
TOOLS: dict[str, dict[str, Any]] = {
    "label_smoothing 0.1": {"label_smoothing": 0.1},
    "mixup_alpha 0.2": {"mixup_alpha": 0.2},
    "cutmix_alpha 1.0": {"cutmix_alpha": 1.0},
    "auto_augment ta_wide": {"auto_augment": "ta_wide"},
    "auto_augment ra": {"auto_augment": "ra"},
    "random_erasing 0.25": {"random_erasing": 0.25},
    "warmup_epochs 1": {"warmup_epochs": 1},
    "clip_grad_norm 1": {"clip_grad_norm": 1.0},
    "accumulate_steps 4": {"accumulate_steps": 4},
    "ema_decay 0.99 every step": {"ema_decay": 0.99, "ema_steps": 1},
    "ema_decay 0.99998 every 32": {"ema_decay": 0.99998, "ema_steps": 32},
    "early_stopping 5": {"early_stopping": 5},
    "class_balance weights": {"class_balance": "weights"},
    "class_balance sampler": {"class_balance": "sampler"},
    "layer_decay 0.75": {"layer_decay": 0.75},
    "diagnostics (default -1)": {"diagnostics_every": -1},
}


def tiny_vit() -> nn.Module:
    """Return a seeded 4-layer ViT for 16 px images (so layer_decay applies too)."""
    torch.manual_seed(0)
    return VisionTransformer(
        image_size=SIZE, patch_size=4, num_layers=4, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10
    )


class CpuClock(Events):
    """Notes this process's CPU time at the start and at the end of each epoch."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def start(self, settings: dict[str, Any]) -> None:
        """The run begins: the first mark."""
        self.marks.append(time.process_time())

    def epoch(self, record: dict[str, Any]) -> None:
        """An epoch (train + validation) ended."""
        self.marks.append(time.process_time())

    def best(self) -> float:
        """Return the cheapest epoch's CPU seconds."""
        return min(b - a for a, b in zip(self.marks, self.marks[1:]))


def plain_epochs(config: TrainConfig, datasets: Any) -> float:
    """The reference: SGD, cross-entropy, the same batches; return the best epoch's CPU seconds."""
    model = tiny_vit()
    torch.manual_seed(config.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    batches = EpochBatches(len(datasets.train), config.batch_size, config.seed)
    loader = DataLoader(Indexed(datasets.train), batch_sampler=batches)
    val_loader = DataLoader(datasets.val, batch_size=max(config.batch_size, 64))
    loss_fn = nn.CrossEntropyLoss()
    best = float("inf")
    for epoch in range(config.epochs):
        started = time.process_time()
        batches.set_epoch(epoch)
        model.train()
        plain_epoch(model, loader, optimizer, loss_fn)
        plain_accuracy(model, val_loader)
        best = min(best, time.process_time() - started)
    return best


def ours(base: dict[str, Any], tool: dict[str, Any], datasets: Any) -> float:
    """Return the best epoch's CPU seconds of the project's loop with `tool`'s keys on."""
    clock = CpuClock()
    result = train(tiny_vit(), train_config({**base, **tool}), datasets, events=clock)
    assert result.status == "done", result.message
    return clock.best()


def main() -> None:
    """Time every tool and print its cost as a ratio to the loop without tools."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best of each)")
    parser.add_argument("--images", type=int, default=600, help="digits to use (of 1797)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="ptm-bench-"))
    write_digits(root / "digits", SIZE, limit=args.images)
    base = {
        "data": str(root / "digits"),
        "image_size": SIZE,
        "epochs": args.epochs,
        "batch_size": 32,
        "optimizer": "sgd",
        "lr": 0.01,
        "backbone_lr": 0.01,
        "weight_decay": 0.0,
        "scheduler": "none",
        "workers": 0,
        "diagnostics_every": 0,
        "seed": 0,
    }
    config = train_config(base)
    datasets = build_datasets(config)
    runs: dict[str, list[float]] = {"plain PyTorch loop": [], "ptm-tui loop, no tool": []}
    runs.update({name: [] for name in TOOLS})
    for _ in range(args.rounds):
        runs["plain PyTorch loop"].append(plain_epochs(config, datasets))
        runs["ptm-tui loop, no tool"].append(ours(base, {}, datasets))
        for name, tool in TOOLS.items():
            runs[name].append(ours(base, tool, datasets))
    best = {name: min(times) for name, times in runs.items()}
    plain, bare = best["plain PyTorch loop"], best["ptm-tui loop, no tool"]
    print(
        f"tiny ViT (4 layers, 64 wide) on {len(datasets.train)} train / {len(datasets.val)} val "
        f"{SIZE} px digits, batch 32, {args.epochs} epochs, CPU s of the best epoch of {args.rounds} rounds, "
        f"{args.threads} thread(s)"
    )
    print("| run | CPU s/epoch | vs no tool | vs plain |\n| --- | ---: | ---: | ---: |")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.3f} | {seconds / bare:.2f}x | {seconds / plain:.2f}x |")


if __name__ == "__main__":
    main()
