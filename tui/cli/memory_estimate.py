"""`ptm-tui finetune RECIPE --estimate-memory`: one training step's memory, printed instead of a job."""

from __future__ import annotations

import argparse
from typing import Any

ROWS = (
    ("weights", "parameters and buffers"),
    ("gradients", "of what trains"),
    ("optimizer", "its state after a step"),
    ("batch", "images and targets"),
    ("activations", "kept for the backward pass"),
)


def estimate_lines(estimate: Any, model: str) -> list[str]:
    """Return the human lines of a MemoryEstimate."""
    from engine.train.memory_estimate import gib

    step = estimate.step
    size = "x".join(str(n) for n in estimate.input_size)
    lines = [
        f"one training step of {model}: batch {step.batch_size}, {size}, {estimate.precision} "
        f"on {estimate.device}"
    ]
    if estimate.assumed:
        lines.append(f"  {estimate.assumed}")
    lines += [f"  {key:<12}{gib(getattr(step, key)):>12}  {what}" for key, what in ROWS]
    if step.ema:
        lines.append(f"  {'ema':<12}{gib(step.ema):>12}  the weights' moving average (ema_decay)")
    if step.ddp_buckets:
        lines.append(
            f"  {'ddp buckets':<12}{gib(step.ddp_buckets):>12}  DDP's copy of the gradients (torchrun)"
        )
    lines.append(f"  {'peak':<12}{gib(step.peak):>12}  about {gib(estimate.per_image)} more per image")
    if estimate.free is None:
        lines.append(f"  free memory of {estimate.device}: unknown here (it is not on this machine)")
    else:
        what = "available RAM" if estimate.device == "cpu" else "free GPU memory"
        lines.append(f"  {'free':<12}{gib(estimate.free):>12}  {what} on {estimate.device} now")
    if estimate.device.startswith("cuda"):
        lines.append("  plus the CUDA context and the allocator's spare blocks: keep 1-2 GiB aside")
    warning = estimate.warning()
    if warning:
        lines.append(warning)
    return lines


def print_estimate(recipe: Any, args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Print the recipe's estimate (JSON with --json) and return the exit code (0)."""
    from engine.train.memory_estimate import estimate_for_recipe
    from tui.cli.output import print_json, stderr, stdout

    processes = (args.nproc_per_node or 1) * (args.nnodes or 1)  # torchrun: DDP in each process
    estimate = estimate_for_recipe(recipe, overrides, processes)
    if args.json:
        print_json(estimate.to_dict())
        return 0
    lines = estimate_lines(estimate, str(recipe.model.get("name", "the model")))
    for line in lines:
        (stderr if line.startswith("warning") else stdout).print(line, highlight=False, markup=False)
    return 0
