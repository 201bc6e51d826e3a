"""Whole-model weight statistics: engine.inspect.stats.model_stats vs the naive loop, on vgg16.

The naive loop is what one writes first: for every parameter tensor, mean, std, min, max,
zero count, L2 norm, NaN count and Inf count, each a separate reduction and a `.item()`.
The model has random init weights. The naive loop is timed per tensor (no concatenation),
which favours it: model_stats also merges weight and bias into one row per layer.
Both run once to warm up, then `--repeat` times; the best time of each counts.
Agreement is checked against float64 statistics per layer.

    python bench/stats.py [--model vgg16] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torchvision
from torch import nn

from engine.inspect.stats import LayerStats, model_stats


def naive_stats(model: nn.Module) -> dict[str, list[float]]:
    """Per parameter tensor: eight separate reductions, each followed by `.item()`."""
    result = {}
    with torch.no_grad():
        for name, param in model.named_parameters():
            t = param.detach()
            result[name] = [t.mean().item(), t.std().item(), t.min().item(), t.max().item(),
                            (t == 0).sum().item() / t.numel(), t.norm().item(),
                            torch.isnan(t).sum().item(), torch.isinf(t).sum().item()]
    return result


def reference(model: nn.Module) -> dict[str, LayerStats]:
    """Per layer, float64 statistics over the concatenated own parameters (slow, exact)."""
    out = {}
    with torch.no_grad():
        for path, module in model.named_modules():
            own = [p for p in module._parameters.values() if p is not None]
            if not own:
                continue
            x = torch.cat([p.detach().reshape(-1).double() for p in own])
            out[path] = LayerStats(x.mean().item(), x.std().item(), x.min().item(), x.max().item(),
                                   (x == 0).double().mean().item(), x.norm().item(), 0, 0,
                                   x.numel())
    return out


def best_time(function, model: nn.Module, repeat: int) -> float:
    """Run once to warm up, then `repeat` times; return the best wall time in seconds."""
    function(model)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(model)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Print naive vs model_stats times, their ratio, and whether the results agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.model, weights=None).eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.model}: {params:,} parameters in {len(list(model.parameters()))} tensors, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}")

    naive = best_time(naive_stats, model, args.repeat)
    ours = best_time(model_stats, model, args.repeat)
    print(f"naive loop (8 reductions + .item() per tensor): {naive:.3f} s")
    print(f"engine.inspect.stats.model_stats:                       {ours:.3f} s")
    print(f"ratio: {naive / ours:.2f}x")

    got, want = model_stats(model), reference(model)
    worst = 0.0
    for path, ref in want.items():
        row = got[path]
        for key in ("mean", "std", "min", "max", "zeros", "norm"):
            a, b = getattr(row, key), getattr(ref, key)
            scale = max(abs(b), ref.std, 1e-12)
            worst = max(worst, abs(a - b) / scale)
        assert row.count == ref.count and row.nan == 0 and row.inf == 0, path
    agree = set(got) == set(want) and worst < 1e-5
    print(f"agree with float64 reference: {agree} (worst relative error {worst:.1e})")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
