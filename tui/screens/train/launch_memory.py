"""The launch form's memory line: one training step's estimated peak beside the device's free
memory (engine/train/memory_estimate.py), computed in a thread worker."""

from __future__ import annotations

from typing import Any

MEMORY_PROMPT = "memory of one step: ctrl+g estimates it (nothing is allocated)"
"""What the memory line says until it is asked for (an estimate takes seconds on a big model)."""


def memory_line(model: Any, meta: dict[str, Any] | None, table: dict[str, Any], processes: int = 1) -> str:
    """Return one line: the step's peak at the form's batch size and precision (in each of the
    torchrun `processes`), the device's free memory, and the warning with the largest batch that
    fits when it cannot."""
    from engine.train.config import train_config
    from engine.train.memory_estimate import estimate_for_model, gib

    estimate = estimate_for_model(model, meta, train_config(table), processes)
    step = estimate.step
    ddp = f"; DDP buckets {gib(step.ddp_buckets)}" if step.ddp_buckets else ""
    line = (
        f"one step ≈ {gib(step.peak)} at batch {step.batch_size} ({estimate.precision} on "
        f"{estimate.device}; activations {gib(step.activations)}{ddp})"
    )
    warning = estimate.warning()
    if warning:
        return f"{line}\n{warning}"
    if estimate.free is None:
        assumed = "; amp auto taken as bf16 there" if estimate.assumed else ""
        return f"{line}; {estimate.device} is not on this machine{assumed}"
    return f"{line}; {gib(estimate.free)} free: it fits"


def show_memory_estimate(screen: Any) -> None:
    """Write memory_line for `screen.workbench` and `screen.table` into its #launch-memory Static,
    from a thread worker that replaces any earlier one (a no-op while the form has no valid table)."""
    from rich.text import Text
    from textual.widgets import Input, Static

    table = getattr(screen, "table", None)
    found = screen.query("#launch-memory")
    if not table or not found:
        return
    target = found.first(Static)
    model, meta = screen.workbench.model, screen.workbench.meta
    nproc = screen.query("#launch-nproc")
    typed = nproc.first(Input).value.strip() if nproc else ""
    processes = int(typed) if typed.isdigit() and int(typed) > 0 else 1  # the launch refuses the rest

    def work() -> None:
        try:
            text = memory_line(model, meta, table, processes)
        except Exception as problem:  # the estimate is advice: say why it is missing, launch still works
            text = f"no memory estimate: {getattr(problem, 'message', None) or problem}"
        screen.app.call_from_thread(target.update, Text(text))  # error words and paths: no markup

    screen.run_worker(work, thread=True, exclusive=True, group="memory-estimate", name="memory estimate")
