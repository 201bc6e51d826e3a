"""GPU check for a lent machine (< 4 minutes): the CUDA paths of the finetune loop.

Runs a few hundred finetune steps of resnet50 on synthetic data through the project's
Trainer with (a) AMP bf16 + channels_last and (b) plain fp32, and a hand-written plain fp32
PyTorch loop as the reference; prints images/s and ratios. On a machine without CUDA, `--cpu`
runs the same code with a tiny step count to show that it works.

    python bench/gpu_check.py            # on the GPU (about 2-3 minutes)
    python bench/gpu_check.py --cpu      # smoke run on the CPU (resnet18, a few steps)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torchvision
from torch import nn
from torch.utils.data import Dataset

from engine.train.config import train_config
from engine.train.data import Datasets
from engine.train.events import Events
from engine.train.loop import Trainer


class Synthetic(Dataset):
    """Random images with random labels, made on the fly (no disk, no decode)."""

    def __init__(self, n: int, size: int, classes: int) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(64, 3, size, size, generator=gen)
        self.labels = torch.randint(0, classes, (n,), generator=gen)
        self.targets = self.labels.tolist()
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i % 64], int(self.labels[i])


class Timer(Events):
    """Records when each logged step happened."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float]] = []

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """Note the time of this step."""
        self.marks.append((step, time.perf_counter()))


def run_trainer(model_name: str, data: Datasets, steps: int, batch: int, device: str,
                amp: bool, channels_last: bool, workers: int) -> float:
    """Return images/s of the project's loop over `steps` steps (first 10% as warm-up)."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(model_name, num_classes=len(data.classes))
    config = train_config({"data": "synthetic", "epochs": 1, "batch_size": batch,
                           "optimizer": "sgd", "lr": 0.01, "backbone_lr": 0.01, "device": device,
                           "amp": amp, "channels_last": channels_last, "workers": workers,
                           "log_every": 1, "scheduler": "none"})
    timer = Timer()
    trainer = Trainer(model, config, data, events=timer)
    trainer.evaluate = lambda: (0.0, 0.0)  # type: ignore[method-assign]  # time training only
    trainer.run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    warm = max(1, steps // 10)
    (s0, t0), (s1, t1) = timer.marks[warm], timer.marks[-1]
    return (s1 - s0) * batch / (t1 - t0)


def run_plain(model_name: str, data: Datasets, steps: int, batch: int, device: str,
              workers: int) -> float:
    """Return images/s of a plain fp32 PyTorch loop (the reference)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    model = torchvision.models.get_model(model_name, num_classes=len(data.classes)).to(dev)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = torch.utils.data.DataLoader(data.train, batch_size=batch, shuffle=True,
                                         num_workers=workers, pin_memory=dev.type == "cuda",
                                         drop_last=True)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    warm = max(1, steps // 10)
    start = 0.0
    for i, (x, y) in enumerate(loader):
        if i == warm:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss.detach())  # the project's loop checks every loss for NaN/Inf: same sync here
        if i + 1 == steps:
            break
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (steps - warm) * batch / (time.perf_counter() - start)


def main() -> None:
    """Run the three loops and print throughput and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny smoke run on the CPU")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu
    device = "cuda" if cuda else "cpu"
    model = args.model or ("resnet50" if cuda else "resnet18")
    steps = args.steps or (300 if cuda else 6)
    batch = args.batch or (128 if cuda else 8)
    size = 224 if cuda else 64
    workers = 4 if cuda else 0
    data = Datasets(Synthetic(steps * batch, size, 100), Synthetic(batch, size, 100),
                    [str(i) for i in range(100)], "synthetic")
    if cuda:
        torch.backends.cudnn.benchmark = True
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    else:
        print(f"device: cpu (smoke run), torch {torch.__version__}")
    results: dict[str, Any] = {}
    results["plain fp32"] = run_plain(model, data, steps, batch, device, workers)
    results["ptm fp32"] = run_trainer(model, data, steps, batch, device, False, False, workers)
    results["ptm bf16+channels_last"] = run_trainer(model, data, steps, batch, device, True,
                                                    True, workers)
    base = results["plain fp32"]
    for name, rate in results.items():
        print(f"{model} {size}px batch {batch}, {steps} steps, {name}: {rate:,.0f} img/s "
              f"({rate / base:.2f}x plain fp32)")


if __name__ == "__main__":
    main()
