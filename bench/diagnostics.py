"""Cost of the per-layer learning diagnostics, measured in one run.

Training steps of the same model alternate between measured (the diagnostics' copy of the
trainable weights before the update, the norms after it) and plain; the median extra time of
a measured step, spread over the default interval (about 4 measurements an epoch), is the
overhead. Alternating steps keeps a busy machine's drifting load out of the ratio.
Target: overhead under 3% at the default interval.

    python bench/diagnostics.py [--model resnet18] [--size 32] [--steps 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision
from torch import nn

from engine.train.config import train_config
from engine.train.diagnostics import LayerDiagnostics, interval
from engine.train.optim import make_optimizer
from engine.train.params import param_groups


def main() -> None:
    """Time measured and plain steps alternately and print the overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--images", type=int, default=1437, help="training images an epoch (digits)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.model, num_classes=10)
    config = train_config({"optimizer": "sgd", "lr": 0.01})
    groups = param_groups(model, config)
    optimizer = make_optimizer(groups, config)
    diagnostics = LayerDiagnostics(model, groups, every=1)
    x, y = torch.randn(args.batch, 3, args.size, args.size), torch.randint(0, 10, (args.batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step(measure: bool) -> float:
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        if measure:
            diagnostics.before_step()
        optimizer.step()
        if measure:
            diagnostics.after_step(0, 1)
        return time.perf_counter() - started

    for _ in range(3):
        step(False), step(True)  # warm-up
    plain, measured = [], []
    for _ in range(args.steps):
        plain.append(step(False))
        measured.append(step(True))
    base, with_diag = statistics.median(plain), statistics.median(measured)
    steps_per_epoch = -(-args.images // args.batch)
    every = interval(-1, steps_per_epoch)
    overhead = (with_diag - base) / (every * base)
    print(f"{args.model} {args.size}px batch {args.batch}: plain step {1000 * base:.1f} ms, measured step "
          f"{1000 * with_diag:.1f} ms (+{1000 * (with_diag - base):.1f} ms); every {every} steps of "
          f"{steps_per_epoch} an epoch: ratio {1 + overhead:.4f} (overhead {100 * overhead:+.2f}%, "
          f"target < +3%)")


if __name__ == "__main__":
    main()
