"""The memory estimate (engine/train/memory_estimate.py) against what one real training step holds:
torch.cuda.max_memory_allocated on a GPU, the profiler's allocator timeline on the CPU. Prints the
estimate / real ratio per model, precision and frozen part; target: 0.9-1.05 (kernel workspaces such
as cuDNN's are not tensors, so the estimate may sit a little low).

    python bench/memory_estimate.py          # on a GPU: resnet50 and vit_b_16 at 224 px (< 2 minutes)
    python bench/memory_estimate.py --cpu    # on the CPU: resnet18 at 64 px, batch 8
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torchvision

from engine.edit.freeze import frozen_batchnorm_to_eval
from engine.train.config import train_config
from engine.train.memory_estimate import gib, step_memory
from engine.train.optim import make_optimizer
from engine.train.params import param_groups
from engine.train.precision import choose_precision
from engine.train.tasks import task_for


def real_step(model: torch.nn.Module, config: Any, x: torch.Tensor, y: torch.Tensor, precision: Any) -> None:
    """One training step as the loop takes it (forward under autocast, backward, optimizer step)."""
    model.train()
    if config.freeze_bn:
        frozen_batchnorm_to_eval(model)
    task = task_for(model)
    task.prepare(model, config)
    optimizer = make_optimizer(param_groups(model, config, task.head(model)), config)
    with precision.autocast():
        loss, _ = task.train_step(model, x, y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def cuda_peak(model: torch.nn.Module, config: Any, x: torch.Tensor, y: torch.Tensor, precision: Any) -> int:
    """Return torch.cuda.max_memory_allocated over one step (the weights already on the GPU)."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    real_step(model, config, x, y, precision)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def cpu_peak(model: torch.nn.Module, config: Any, x: torch.Tensor, y: torch.Tensor, precision: Any) -> int:
    """Return the most bytes the CPU allocator held over one step (the profiler's memory timeline)."""
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline

    with profile(
        activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
    ) as p:
        real_step(model, config, x, y, precision)
    _, sizes = MemoryProfileTimeline(p._memory_profile())._coalesce_timeline("cpu")
    return max(sum(row) for row in sizes)


def measure_case(name: str, amp: str, frozen: bool, device: torch.device, size: int, batch: int) -> str:
    """Estimate one training step of `name` (all trained, or the head alone when `frozen`), take the
    step for real on `device`, and return the line that compares the two."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, num_classes=10)
    if frozen:  # everything but the head
        for key, param in model.named_parameters():
            param.requires_grad_(key.startswith(("fc.", "heads.", "classifier.")))
    config = train_config(
        {"batch_size": batch, "optimizer": "adamw", "image_size": size, "amp": amp, "device": device.type}
    )
    precision = choose_precision(amp, device)
    started = time.perf_counter()
    estimate = step_memory(model, config, (3, size, size), precision)
    seconds = time.perf_counter() - started
    model = model.to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    real = (cuda_peak if device.type == "cuda" else cpu_peak)(model, config, x, y, precision)
    del model, x, y
    if device.type == "cuda":
        torch.cuda.empty_cache()
    trains = "head only" if frozen else "all"
    return (
        f"{name} {amp:>4} {trains:>9} batch {batch}: estimate {gib(estimate.peak)} "
        f"({seconds:.1f} s), real {gib(real)}, ratio {estimate.peak / real:.3f}"
    )


def main() -> None:
    """Estimate, run and compare each case; print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="measure on the CPU (small models)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda" if cuda else "cpu")
    models = ["resnet50", "vit_b_16"] if cuda else ["resnet18"]
    size, batch = (224, 64) if cuda else (64, 8)
    torch.set_num_threads(1 if not cuda else torch.get_num_threads())
    print(f"device: {torch.cuda.get_device_name(0) if cuda else 'cpu'}, torch {torch.__version__}")
    for name in models:
        for amp in ("off", "bf16", "fp16"):
            for frozen in (False, True):
                print(measure_case(name, amp, frozen, device, size, batch))


if __name__ == "__main__":
    main()
