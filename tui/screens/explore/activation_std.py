"""The activation-std plot of the opened model: each leaf layer's output std, before/after edits."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState

from tui.screens.base import PtmScreen, error_text
from tui.screens.edit.init_lab import StdPlot
from tui.widgets.path_input import PathInput
from tui.widgets.title import ScreenTitle

KEEP = 3
"""Measurements kept per model and overlaid (the latest and the ones before it)."""
DEFAULT_INPUT = (1, 3, 224, 224)


@dataclass
class Measurement:
    """One forward pass's per-layer stds, labelled by the model's state at the time."""

    label: str
    edits: int
    records: list[Any]

    def curve(self) -> tuple[str, list[float], int | None]:
        """Return (label, finite stds up to the first non-finite layer, that layer or None)."""
        stds: list[float] = []
        for record in self.records:
            if not math.isfinite(record.std):
                return self.label, stds, record.index
            stds.append(record.std)
        return self.label, stds, None


_HISTORY: dict[int, tuple[weakref.ref, list[Measurement]]] = {}


def history(workbench: Any) -> list[Measurement]:
    """Return the measurements kept for this workbench (oldest first)."""
    key = id(workbench)
    entry = _HISTORY.get(key)
    if entry is None or entry[0]() is not workbench:
        for stale in [k for k, (ref, _) in _HISTORY.items() if ref() is None]:
            del _HISTORY[stale]
        entry = (weakref.ref(workbench), [])
        _HISTORY[key] = entry
    return entry[1]


def state_label(workbench: Any) -> str:
    """Return a short name for the model's current state ("as opened" or its last edit)."""
    edits = workbench.history
    if not edits:
        return f"as opened ({workbench.source})"
    edit, summary = edits[-1]
    short = summary.split(":")[0] if summary else str(edit.get("op"))
    return f"after {len(edits)} edit{'s' if len(edits) > 1 else ''}: {short}"


class ActivationStdScreen(PtmScreen):
    """Forward a random batch through the model and plot every leaf layer's output std."""

    DEFAULT_CSS = """
    ActivationStdScreen #act-top { height: 3; }
    ActivationStdScreen #act-status { width: 1fr; padding: 1 1 0 1; }
    ActivationStdScreen #act-input { width: 20; }
    ActivationStdScreen #act-images { width: 36; }
    ActivationStdScreen #act-plot { height: 2fr; }
    ActivationStdScreen #act-table { height: 1fr; }
    """

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("r", "measure", "Measure again", id="activation_std.measure"),
        Binding("escape,q", "close", "Back", id="activation_std.close"),
    ]

    def __init__(self, workbench: Any, batch_size: int = 4, seed: int = 0) -> None:
        super().__init__()
        self.workbench = workbench
        self.batch_size = batch_size
        self.seed = seed

    def compose(self) -> ComposeResult:
        """Status and input size, the plot, the per-layer table."""
        size = self.workbench.input_size or DEFAULT_INPUT
        yield ScreenTitle("Activation stds", self.workbench.name)
        with Horizontal(id="act-top"):
            yield Static("measuring...", id="act-status")
            yield Input(",".join(str(s) for s in size[1:]), id="act-input",
                        tooltip="input size without the batch (enter to measure again)")
            yield PathInput("", placeholder="images folder (default: random)", id="act-images",
                        tooltip="measure with up to 8 images from this folder instead")
        yield StdPlot("output std per layer, in forward order (log scale)", id="act-plot")
        table: DataTable = DataTable(id="act-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "layer", "type", "output shape", "std")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        """Measure the model as it is now."""
        # the boxes' own labels (a placeholder alone vanishes once there is a value)
        self.query_one("#act-input", Input).border_title = "input C,H,W"
        self.query_one("#act-images", Input).border_title = "images folder"
        self.query_one(DataTable).focus()
        self.action_measure()

    def input_size(self) -> tuple[int, ...]:
        """Return the input size typed in the box (with the batch size in front)."""
        from engine.errors import BadInput

        text = self.query_one("#act-input", Input).value
        try:
            dims = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
        except ValueError:
            dims = ()
        if not dims or min(dims) < 1:
            raise BadInput(f"input size {text!r} is not a list of positive numbers",
                           "the model needs an input shape without the batch",
                           "type e.g. 3,224,224")
        return (self.batch_size, *dims)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        """Measure again with the typed input size."""
        self.query_one(DataTable).focus()
        self.action_measure()

    def action_measure(self) -> None:
        """Measure the model's activation stds in a worker."""
        from engine.errors import PtmError

        try:
            size = self.input_size()
        except PtmError as error:
            self.notify(error.message, severity="error", timeout=6)
            return
        folder = self.query_one("#act-images", Input).value.strip()
        what = f"images from {folder}" if folder else f"a random batch {tuple(size)}"
        self.query_one("#act-status", Static).update(f"forwarding {what} through the model...")
        self.measure(size, folder)

    @work(thread=True, exclusive=True, group="measure", exit_on_error=False,
          name="activation stds")
    def measure(self, size: tuple[int, ...], folder: str = "") -> Measurement:
        """Run engine.use.init_lab.activation_stds in a thread and return the measurement."""
        from engine.use.init_lab import IMAGENET_MEAN, IMAGENET_STD, activation_stds, images_batch

        batch = None
        if folder:
            meta = self.workbench.meta or {}
            batch = images_batch(folder, (size[-2], size[-1]),
                                 mean=tuple(meta.get("mean") or IMAGENET_MEAN),
                                 std=tuple(meta.get("std") or IMAGENET_STD))
        records = activation_stds(self.workbench.model, batch=batch, input_size=size,
                                  batch_size=size[0], seed=self.seed)
        label = state_label(self.workbench) + (f" [{folder}]" if folder else "")
        return Measurement(label, len(self.workbench.edits), records)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Keep and show a finished measurement."""
        super().on_worker_state_changed(event)
        if event.worker.group == "measure" and event.state == WorkerState.SUCCESS:
            measurement: Measurement = event.worker.result
            runs = history(self.workbench)
            older = [m for m in runs
                     if m.edits != measurement.edits or m.label != measurement.label]
            runs[:] = [*older[-(KEEP - 1):], measurement]
            self.show(runs)

    def worker_failed(self, worker: Worker) -> None:
        """Say why nothing could be measured."""
        self.query_one("#act-status", Static).update(
            Text(f"could not measure: {error_text(worker.error)}", style="bold red"))

    def show(self, runs: list[Measurement]) -> None:
        """Plot every kept measurement and list the latest one layer by layer."""
        self.query_one(StdPlot).show([m.curve() for m in runs])
        latest = runs[-1]
        table = self.query_one(DataTable)
        table.clear()
        for record in latest.records:
            shape = "x".join(str(s) for s in record.shape)
            table.add_row(str(record.index), escape(record.path), escape(record.type), shape,
                          f"{record.std:.4g}")
        _, _, bad = latest.curve()
        where = "all finite" if bad is None else \
            f"first non-finite: #{bad} {latest.records[bad].path}"
        stds = [r.std for r in latest.records if math.isfinite(r.std)]
        spread = f", std {min(stds):.3g} .. {max(stds):.3g}" if stds else ""
        self.query_one("#act-status", Static).update(Text(
            f"{latest.label}: {len(latest.records)} layer outputs{spread}; {where}. "
            "Re-initialise with i in the explorer, then come back to compare."))

    def action_close(self) -> None:
        """Go back to the explorer."""
        self.app.pop_screen()
