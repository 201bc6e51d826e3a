"""What the summary's exact totals cost: `summarize` (torchinfo inside torch's FLOP counter) against
torchinfo alone on the same meta copy, and the total each gives against torchvision's `_ops`.

    python bench/summary.py [MODEL...]

Prints, per model: both times (best of 3), their ratio, and each total as a fraction of
torchvision's figure (the summary's should read 1.000).
"""

from __future__ import annotations

import math
import sys
import time

import torchinfo

from engine.inspect.meta import meta_copy
from engine.inspect.summary import summarize
from engine.models.architecture import architecture

MODELS = ["resnet50", "vit_b_16", "swin_t", "convnext_tiny", "fasterrcnn_resnet50_fpn"]


def best_of(runs: int, work) -> tuple[float, object]:
    """Return the best wall time of `runs` calls of `work` and its last result."""
    best, result = math.inf, None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(names: list[str]) -> None:
    """Print one line per model."""
    print(f"{'model':26s} {'torchinfo s':>11s} {'summary s':>9s} {'ratio':>6s} "
          f"{'torchinfo/_ops':>14s} {'summary/_ops':>12s}")
    for name in names:
        built = architecture(name, "default")
        ops = built.weights.gflops * 1e9 if built.weights and built.weights.gflops else math.nan

        def plain(built=built):
            return torchinfo.summary(meta_copy(built.model), input_size=built.input_size,
                                     device="meta", depth=math.inf, verbose=0, mode="eval")

        def ours(built=built):
            return summarize(built.model, built.input_size)

        try:
            plain_s, plain_result = best_of(3, plain)
            plain_total = plain_result.total_mult_adds / ops
        except Exception:  # torchinfo alone cannot run a detection model on meta
            plain_s, plain_total = math.nan, math.nan
        ours_s, rows = best_of(3, ours)
        print(f"{name:26s} {plain_s:11.3f} {ours_s:9.3f} {ours_s / plain_s:6.2f} "
              f"{plain_total:14.3f} {rows[''].mult_adds / ops:12.3f}")


if __name__ == "__main__":
    main(sys.argv[1:] or MODELS)
