"""The launch form's "run on" choice: this machine, or Slurm (shown only when `sbatch` is on PATH).

The Slurm fields are checked by the CLI's own code (engine.jobs.slurm.options.options_from) and
the job is submitted by the function `ptm-tui finetune --slurm` uses (tui.cli.slurm_flags.submit_new).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

from textual.containers import Grid
from textual.widget import Widget
from textual.widgets import Input, Label, Select

RUN_ON = "launch-run_on"
"""The id of the "run on" choice."""
HERE, SLURM = "here", "slurm"
# (SlurmOptions key, label, placeholder, what it does); empty fields leave Slurm's defaults
FIELDS: list[tuple[str, str, str, str]] = [
    ("partition", "Slurm partition", "the cluster's default", "the Slurm partition (queue) to submit to"),
    ("time", "time limit", "the partition's", "MINUTES, HH:MM:SS or D-HH:MM"),
    ("nodes", "nodes", "1", "machines the job spans"),
    ("gpus_per_node", "GPUs per node", "none", "GPUs on each node (a task per GPU)"),
    ("cpus_per_task", "CPUs per task", "Slurm's default", "CPU cores for each task"),
    ("mem", "memory per node", "Slurm's default", "memory on each node, e.g. 32G"),
]
COUNTS = {"nodes", "gpus_per_node", "cpus_per_task"}
"""The fields the CLI takes as whole numbers (its int flags)."""


def sbatch_found() -> bool:
    """True when `sbatch` is on PATH, so the form can offer Slurm."""
    return shutil.which("sbatch") is not None


def slurm_widgets() -> Iterator[Widget]:
    """Yield the "run on" choice and the Slurm fields (hidden until Slurm is chosen); nothing
    without sbatch."""
    if not sbatch_found():
        return
    run_on = Select(
        [("this machine", HERE), ("Slurm (sbatch)", SLURM)],
        value=HERE,
        allow_blank=False,
        compact=True,
        id=RUN_ON,
    )
    run_on.tooltip = "run the job here, or submit it to Slurm with sbatch"
    yield Grid(Label("run on", classes="field-label"), run_on, classes="fields")
    fields: list[Widget] = []
    for key, label, placeholder, words in FIELDS:
        field = Input("", placeholder=placeholder, compact=True, id=f"launch-slurm_{key}")
        field.tooltip = words
        fields += [Label(label, classes="field-label"), field]
    box = Grid(*fields, classes="fields", id="launch-slurm")
    box.display = False
    yield box


def slurm_chosen(screen: Any) -> bool:
    """True when the form's "run on" choice is Slurm."""
    choice = screen.query(f"#{RUN_ON}")
    return bool(choice) and choice.first(Select).value == SLURM


def show_slurm_fields(screen: Any) -> None:
    """Show the Slurm fields only while Slurm is chosen."""
    for box in screen.query("#launch-slurm"):
        box.display = slurm_chosen(screen)


def form_slurm_options(screen: Any, nproc: int | None) -> Any:
    """Return the SlurmOptions the form's Slurm fields ask for; raise BadInput with the CLI's
    words when a value is not valid."""
    from engine.jobs.slurm.options import options_from

    flags: dict[str, Any] = {}
    for key, _, _, _ in FIELDS:
        text = screen.query_one(f"#launch-slurm_{key}", Input).value.strip()
        if text:
            whole = key in COUNTS and text.isdigit()
            flags[key] = int(text) if whole else text  # else options_from says what is wrong
    if nproc is not None and nproc > 1:
        flags["tasks_per_node"] = nproc  # else one task per GPU, as --nproc-per-node left out
    return options_from(None, flags)
