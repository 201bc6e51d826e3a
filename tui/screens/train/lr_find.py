"""The learning-rate finder over the launch form: the range test runs in a worker on a copy of
the model with the form's data and groups, the curve grows live, Enter takes the suggestion."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, ProgressBar, Static

from tui.lr_plot import draw_lr_plot
from tui.screens.base import error_text
from tui.widgets.fresh_plot import FreshPlot
from tui.widgets.title import ScreenTitle

REDRAW_S = 0.3
"""Redraw the growing curve at most this often."""


class LrPlot(FreshPlot):
    """The smoothed loss against lr (log x), with the suggestion marked once known."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.suggestion: float | None = None

    def show(self, lrs: list[float], losses: list[float], suggestion: float | None = None) -> None:
        """Draw these points (and the suggestion)."""
        self.lrs, self.losses, self.suggestion = list(lrs), list(losses), suggestion
        self.refresh()

    def draw(self, plt: Any, marker: str) -> None:
        """Draw the curve and the suggestion."""
        draw_lr_plot(plt, self.lrs, self.losses, self.suggestion, marker)


class LrFindScreen(ModalScreen[float | None]):
    """Runs the range test on a copy of `model` with the [train] `table`; returns the chosen lr."""

    DEFAULT_CSS = """
    LrFindScreen { align: center middle; }
    LrFindScreen > Vertical { width: 100%; max-width: 110; height: 100%; max-height: 34;
                              border: thick $primary; background: $surface; }
    LrFindScreen #lr-plot { height: 1fr; min-height: 8; }
    LrFindScreen #lr-status { height: auto; padding: 0 1; }
    LrFindScreen ProgressBar { padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "use", "Use suggestion", id="lr_find.use"),
        Binding("escape", "cancel", "Cancel", id="lr_find.cancel"),
    ]

    def __init__(self, model: Any, table: dict[str, Any], meta: dict[str, Any] | None = None,
                 name: str = "", steps: int = 100) -> None:
        super().__init__()
        self.model = model
        self.table = dict(table)
        self.meta = meta
        self.model_name = name
        self.steps = steps
        self.result: Any = None
        self._stop = threading.Event()
        self._points: tuple[list[float], list[float]] = ([], [])
        self._drawn = 0.0

    def compose(self) -> ComposeResult:
        """Title, progress, the curve and what it suggests."""
        with Vertical():
            yield ScreenTitle("Learning-rate finder", self.model_name)
            yield ProgressBar(total=self.steps, show_eta=False, id="lr-progress")
            yield LrPlot(id="lr-plot")
            yield Static("building the data and a copy of the model...", id="lr-status")
            yield Footer()

    def on_mount(self) -> None:
        """Start the range test."""
        self.run_test()

    @work(thread=True, exclusive=True, group="lr-find", exit_on_error=False, name="lr-find")
    def run_test(self) -> None:
        """Copy the model, build the data, run the sweep; post progress as it goes."""
        import copy

        from engine.train.config import train_config
        from engine.train.data import build_datasets
        from engine.train.dist import resolve_device
        from engine.train.lr_find import find_lr
        from engine.use.channels import input_channels

        try:
            config = train_config(self.table)
            datasets = build_datasets(config, self.meta, input_channels(self.model))
            model = copy.deepcopy(self.model)
            lrs: list[float] = []
            losses: list[float] = []

            def progress(step: int, steps: int, lr: float, loss: float) -> None:
                lrs.append(lr)
                losses.append(loss)
                self.app.call_from_thread(self._progress, step, list(lrs), list(losses))

            result = find_lr(model, config, datasets, resolve_device(config.device),
                             steps=self.steps, progress=progress, should_stop=self._stop.is_set)
        except Exception as error:  # shown in the screen, where the curve would have been
            if not self._stop.is_set():
                self.app.call_from_thread(self._failed, error_text(error))
            return
        if not self._stop.is_set():
            self.app.call_from_thread(self._done, result)

    def _progress(self, step: int, lrs: list[float], losses: list[float]) -> None:
        self.query_one(ProgressBar).update(progress=step)
        now = time.monotonic()
        if now - self._drawn >= REDRAW_S:
            self._drawn = now
            self.query_one(LrPlot).show(lrs, losses)
            self.query_one("#lr-status", Static).update(
                f"step {step}/{self.steps}: lr {lrs[-1]:.2e}, smoothed loss {losses[-1]:.4f}")

    def _done(self, result: Any) -> None:
        self.result = result
        self.query_one(ProgressBar).update(progress=self.steps)
        self.query_one(LrPlot).show(result.lrs, result.losses, result.suggestion)
        if result.suggestion is None:
            text = (f"no suggestion: the loss never fell ({result.stopped}); min/10 rule "
                    f"{result.min_over_10:.2e}. Escape goes back; try another data or head.")
        else:
            text = (f"suggested lr {result.suggestion:.2e} (steepest descent); min/10 rule "
                    f"{result.min_over_10:.2e}; {result.stopped} after {len(result.lrs)} steps "
                    f"in {result.seconds:.0f}s. Enter puts it in the lr field.")
        self.query_one("#lr-status", Static).update(text)

    def _failed(self, message: str) -> None:
        self.query_one("#lr-status", Static).update(f"the range test failed: {message}")

    def action_use(self) -> None:
        """Close with the suggestion (once there is one)."""
        if self.result is None or self.result.suggestion is None:
            self.notify("no suggestion yet", severity="warning", markup=False)
            return
        self.dismiss(self.result.suggestion)

    def action_cancel(self) -> None:
        """Stop the sweep and close without changing the form."""
        self._stop.set()
        self.dismiss(None)
