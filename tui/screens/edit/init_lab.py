"""The Init Lab: run the depth/std experiment and watch each layer's std on a live log plot."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static
from textual.worker import Worker, get_current_worker

from tui.screens.base import PtmScreen, error_text
from tui.std_plot import ACTIVATION_NAMES, draw_std_plot, std_keys
from tui.widgets.fresh_plot import FreshPlot
from tui.widgets.title import ScreenTitle

METHOD_NAMES = ("uniform", "normal", "constant", "ones", "zeros", "eye", "dirac",
                "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                "trunc_normal", "orthogonal", "sparse")
"""engine.edit.init.METHODS in order (kept here so that drawing the form needs no torch import)."""
MAX_RUNS = 6
REDRAW_S = 0.25
"""Redraw the plot at most this often while a run grows."""


@dataclass
class LabRun:
    """One run on the plot: its label, the stds so far, where it turned non-finite."""

    label: str
    stds: list[float] = field(default_factory=list)
    first_nonfinite_layer: int | None = None
    done: bool = False
    verdict: str = ""


class StdPlot(FreshPlot):
    """A log-scale plot of std per layer for several runs, with inf markers and a key line."""

    def __init__(self, title: str = "output std per layer (log scale)", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.runs: list[tuple[str, list[float], int | None]] = []

    def show(self, runs: list[tuple[str, list[float], int | None]]) -> None:
        """Draw these runs (label, stds, first non-finite layer) and refresh."""
        self.runs = [(label, list(stds), bad) for label, stds, bad in runs]
        self.refresh()

    def draw(self, plt: Any, marker: str) -> None:
        """Draw every run (plotext's build transforms its data in place: these are copies)."""
        draw_std_plot(plt, self.runs, self.title, marker=marker, rows=self.size.height - 1)

    def keys(self) -> list[str]:
        """Each run's name (and where it hit inf or 0) for the key line under the plot."""
        return std_keys(self.runs)


class InitLabScreen(PtmScreen):
    """A form for the depth/std experiment and a live plot of every run, overlaid."""

    DEFAULT_CSS = """
    InitLabScreen #lab-body { height: 1fr; }
    InitLabScreen #lab-left { width: 36; height: 1fr; border-right: vkey $primary 40%; }
    InitLabScreen #lab-form { height: 1fr; padding: 0 1; }
    InitLabScreen #lab-form Label { margin-top: 1; }
    InitLabScreen #lab-form Input, InitLabScreen #lab-form Select { width: 100%; }
    InitLabScreen .lab-sizes { height: auto; }
    InitLabScreen #lab-form .lab-sizes Input { width: 1fr; }
    InitLabScreen #lab-buttons { height: auto; padding: 0 1; }
    InitLabScreen #lab-right { width: 1fr; }
    InitLabScreen #lab-plot { height: 1fr; }
    InitLabScreen #lab-status { height: auto; max-height: 8; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+r,f5", "run", "Run", id="init_lab.run"),
        Binding("ctrl+l", "clear", "Clear runs", id="init_lab.clear"),
        Binding("escape", "close", "Back", id="init_lab.close"),
    ]

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.defaults = {"depth": 100, "width": 256, "batch": 256, "activation": "tanh",
                         "init": "xavier_uniform", "gain": "auto", "params": "", "bias": False,
                         "seed": 0, **config}
        self.runs: list[LabRun] = []
        self._dirty = False
        self._failure: str | None = None
        """Why the last run failed, shown under the verdicts until the next run starts."""
        self._lock = threading.Lock()

    def compose(self) -> ComposeResult:
        """The form on the left, the plot and the verdicts on the right."""
        d = self.defaults
        yield ScreenTitle("Init lab", "how an init keeps the std of a deep MLP's layers")
        with Horizontal(id="lab-body"):
            with Vertical(id="lab-left"):
                with VerticalScroll(id="lab-form"):
                    yield Label("init method")
                    yield Select([(m, m) for m in METHOD_NAMES], value=d["init"],
                                 allow_blank=False, id="lab-init")
                    yield Label("activation")
                    yield Select([(a, a) for a in ACTIVATION_NAMES], value=d["activation"],
                                 allow_blank=False, id="lab-activation")
                    yield Label("gain (auto = calculate_gain)")
                    yield Input(str(d["gain"]), id="lab-gain")
                    yield Label("parameters (k=v, k=v)")
                    yield Input(d["params"], placeholder="e.g. std=0.02", id="lab-params")
                    yield Label("depth / width / batch")
                    with Horizontal(classes="lab-sizes"):
                        yield Input(str(d["depth"]), type="integer", id="lab-depth")
                        yield Input(str(d["width"]), type="integer", id="lab-width")
                        yield Input(str(d["batch"]), type="integer", id="lab-batch")
                    yield Label("seed")
                    yield Input(str(d["seed"]), type="integer", id="lab-seed")
                    yield Checkbox("bias", value=bool(d["bias"]), id="lab-bias")
                with Horizontal(id="lab-buttons"):  # under the scrolling form: always on screen
                    yield Button("Run", variant="primary", id="lab-run")
                    yield Button("Clear", id="lab-clear")
            with Vertical(id="lab-right"):
                yield StdPlot(id="lab-plot")
                yield Static("Pick a method and activation, then Run (ctrl+r). Runs overlay; "
                             "compare normal, xavier and kaiming.", id="lab-status")
        yield Footer()

    def on_mount(self) -> None:
        """Start the redraw timer (the plot redraws only when a run has grown)."""
        self.set_interval(REDRAW_S, self._redraw_if_dirty)
        for name in ("depth", "width", "batch"):  # one label above three boxes: each names itself
            self.query_one(f"#lab-{name}", Input).border_title = name
        self._redraw()

    # --- the form ------------------------------------------------------------------------

    def read_config(self) -> Any:
        """Return the LabConfig the form describes (raises BadInput on bad values)."""
        from engine.edit.init_methods import parse_params, parse_value
        from engine.errors import BadInput
        from engine.use.init_lab import LabConfig

        values: dict[str, int] = {}
        for name in ("depth", "width", "batch", "seed"):
            text = self.query_one(f"#lab-{name}", Input).value.strip()
            try:
                values[name] = int(text)
            except ValueError:
                raise BadInput(f"{name} {text!r} is not a whole number",
                               "the experiment needs whole numbers for its sizes",
                               f"type a number into {name}") from None
        gain_text = self.query_one("#lab-gain", Input).value.strip() or "auto"
        gain = "auto" if gain_text == "auto" else parse_value(gain_text)
        params_text = self.query_one("#lab-params", Input).value
        items = [part.strip() for part in params_text.replace(";", ",").split(",") if part.strip()]
        return LabConfig(depth=values["depth"], width=values["width"], batch=values["batch"],
                         seed=values["seed"],
                         activation=str(self.query_one("#lab-activation", Select).value),
                         init=str(self.query_one("#lab-init", Select).value),
                         params=parse_params(items), gain=gain,
                         bias=self.query_one("#lab-bias", Checkbox).value)

    @on(Button.Pressed, "#lab-run")
    def action_run(self) -> None:
        """Start a run with the form's settings (it is added to the plot)."""
        from engine.errors import PtmError

        try:
            config = self.read_config()
            from engine.use.init_lab import StdExperiment

            experiment = StdExperiment(config)  # checks everything before the worker starts
        except PtmError as error:
            self.notify(error.message, title="cannot run", severity="error", timeout=8)
            return
        run = LabRun(config.label())
        with self._lock:
            self.runs.append(run)
            del self.runs[:-MAX_RUNS]
        self._dirty = True
        self._failure = None
        self.query_one("#lab-status", Static).update(Text(f"running {run.label}..."))
        self.run_experiment(experiment, run)

    @on(Button.Pressed, "#lab-clear")
    def action_clear(self) -> None:
        """Remove every run from the plot (a running one is cancelled)."""
        self.workers.cancel_group(self, "lab")
        with self._lock:
            self.runs.clear()
        self._redraw()
        self.query_one("#lab-status", Static).update("cleared")

    def action_close(self) -> None:
        """Stop any run and go back."""
        self.workers.cancel_group(self, "lab")
        self.app.pop_screen()

    # --- the experiment ------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="lab", exit_on_error=False, name="init lab")
    def run_experiment(self, experiment: Any, run: LabRun) -> None:
        """Compute layer after layer in a thread; the timer redraws as the run grows."""
        worker = get_current_worker()
        for _layer, std in experiment:
            if worker.is_cancelled:
                run.verdict = "cancelled"
                break
            run.stds.append(std)
            self._dirty = True
        else:
            run.first_nonfinite_layer = experiment.first_nonfinite_layer
            from engine.use.init_lab import LabResult

            run.verdict = LabResult(run.stds, run.first_nonfinite_layer, run.label).verdict()
        run.done = True
        self._dirty = True

    def worker_failed(self, worker: Worker) -> None:
        """Drop the run that failed from the plot and say why where its verdict would be."""
        with self._lock:
            self.runs = [run for run in self.runs if run.done]
        self._failure = f"{worker.name} failed: {error_text(worker.error)}"
        self._dirty = True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Redraw at once when a run ends (so the verdict shows without waiting)."""
        super().on_worker_state_changed(event)
        if event.worker.group == "lab" and event.worker.is_finished:
            self._redraw()

    # --- drawing -------------------------------------------------------------------------

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self._redraw()

    def _redraw(self) -> None:
        self._dirty = False
        with self._lock:
            runs = list(self.runs)
        self.query_one(StdPlot).show([(r.label, list(r.stds), r.first_nonfinite_layer)
                                      for r in runs])
        lines = []
        for run in runs:
            state = run.verdict if run.done else f"running: layer {len(run.stds)}..."
            lines.append(f"{run.label}: {state}")
        text = Text("\n".join(lines))
        if self._failure:
            text.append(("\n" if lines else "") + self._failure, style="bold red")
        if text:
            self.query_one("#lab-status", Static).update(text)
