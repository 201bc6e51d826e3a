"""Opening a pretrained model: ptm-tui's meta + mmap + assign vs the plain PyTorch way.

Plain: build on cpu (random init), `torch.load(weights_only=True)`, `load_state_dict`.
Ours:  `engine.models.loader.open_model(name, "default")` with the weights file in the cache.

Random weights are written into a temporary TORCH_HOME under each model's default weights
file name (no download). Each way runs once to warm up, then `--repeat` times; the best time
counts. Both must give identical tensors. Usage: python bench/open_model.py [--repeat N] [MODEL...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGETS = {"resnet50": 3.0, "vgg16": 20.0, "vit_b_16": 10.0}


def best_time(work: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Run `work` once to warm up, then `repeat` times; return (best, median, last result)."""
    result = work()
    times = []
    for _ in range(repeat):
        del result
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def main() -> int:
    """Run the comparison for each model and print times and ratios; return 1 if any differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(TARGETS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="ptm-bench-")
    os.environ["TORCH_HOME"] = home

    import torch
    from torchvision import models

    from engine.models import catalog
    from engine.models.loader import open_model

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cache = Path(home) / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, TORCH_HOME={home}")
    print(f"{'model':<10} {'plain s':>9} {'ours s':>9} {'ratio':>7} {'target':>7}  identical")
    failed = False
    for name in args.models:
        weights = catalog.resolve_weights(name, "default")
        path = cache / os.path.basename(weights.url)
        torch.save(models.get_model(name, weights=None).state_dict(), path)

        def plain(name: str = name, path: Path = path) -> torch.nn.Module:
            model = models.get_model(name, weights=None)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model

        def ours(name: str = name) -> torch.nn.Module:
            return open_model(name, "default").model

        plain_best, plain_median, plain_model = best_time(plain, args.repeat)
        ours_best, ours_median, ours_model = best_time(ours, args.repeat)
        mine, theirs = ours_model.state_dict(), plain_model.state_dict()
        same = list(mine) == list(theirs) and all(torch.equal(mine[k], theirs[k]) for k in theirs)
        failed |= not same
        ratio = plain_best / ours_best
        target = TARGETS.get(name)
        print(f"{name:<10} {plain_best:>9.3f} {ours_best:>9.3f} {ratio:>6.1f}x "
              f"{(f'{target:.0f}x' if target else '-'):>7}  {'yes' if same else 'NO'}"
              f"   (medians {plain_median:.3f} / {ours_median:.3f})")
        del plain_model, ours_model, mine, theirs
        path.unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
