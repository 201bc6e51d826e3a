"""The launch form's previews that read files or step schedulers, each in a worker: what the data
path holds (engine/train/data_found.py) and the lr schedule the form gives (the job's own
scheduler code, engine/train/schedule_preview.py)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.widgets import Input, Label
from textual.worker import get_current_worker

ASSUMED_UPDATES = 20
"""Updates an epoch the schedule preview assumes until the data has been counted."""
COUNT_AFTER = 0.3
"""Seconds of no typing in a data field before its path is counted."""


class LaunchData:
    """Mixed into the launch form (before its Screen base): the data counts and the schedule plot."""

    found: Any = None
    """What the data path holds (engine.train.data_found.DataFound), None until counted."""
    _lrs: dict[str, float] | None = None
    _count_timer: Any = None

    def count_data_soon(self) -> None:
        """Count the data path once typing pauses (each keystroke restarts the wait)."""
        if self._count_timer is not None:
            self._count_timer.stop()
        self._count_timer = self.set_timer(COUNT_AFTER, self.count_data)  # type: ignore[attr-defined]

    def count_data(self) -> None:
        """Count what the data path holds, in a worker; an empty path shows nothing."""
        data = self.query_one("#launch-data", Input).value.strip()  # type: ignore[attr-defined]
        val_data = self.query_one("#launch-val_data", Input).value.strip()  # type: ignore[attr-defined]
        label = self.query_one("#launch-found", Label)  # type: ignore[attr-defined]
        self.found = None
        label.display = bool(data)
        label.remove_class("problem")
        if not data:
            label.update("")
            self._preview_again()
            return
        label.update(Text("counting..."))
        self._count_in_worker(data, val_data, self._model_task())

    def _model_task(self) -> str:
        from engine.errors import PtmError
        from engine.train.tasks import task_name_of

        try:
            return task_name_of(self.workbench.model)  # type: ignore[attr-defined]
        except PtmError:  # video, optical flow: the summary says they cannot be finetuned
            return "classification"

    @work(thread=True, exclusive=True, group="launch-data", exit_on_error=False, name="count the data")
    def _count_in_worker(self, data: str, val_data: str, task: str) -> None:
        from engine.errors import PtmError
        from engine.train.data_found import find_data

        try:
            found: Any = find_data(data, task, val_data)
        except PtmError as problem:  # not there, not this task's format: say so under the field
            found = "; ".join(part for part in (problem.what, problem.why) if part)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._counted, data, found)  # type: ignore[attr-defined]

    def _counted(self, data: str, found: Any) -> None:
        if self.query_one("#launch-data", Input).value.strip() != data:  # type: ignore[attr-defined]
            return  # typed on since: a newer count follows
        self.found = None if isinstance(found, str) else found
        if self.found is not None:  # H in the explorer proposes the head this data needs
            counted = getattr(self.app, "data_found", None)  # type: ignore[attr-defined]
            if counted is None:
                counted = self.app.data_found = {}  # type: ignore[attr-defined]
            counted[getattr(self.workbench, "name", "")] = self.found  # type: ignore[attr-defined]
        words = found if isinstance(found, str) else "found: " + found.words()
        label = self.query_one("#launch-found", Label)  # type: ignore[attr-defined]
        label.update(Text(words))
        label.set_class(isinstance(found, str), "problem")
        self._preview_again()

    def preview_schedule(self, lrs: dict[str, float]) -> None:
        """Redraw the schedule plot for the form's [train] table and these group lrs (a worker)."""
        self._lrs = lrs
        table = getattr(self, "table", None)
        if table is None or not lrs:
            return
        from engine.train.config import train_config
        from engine.train.schedule_preview import updates_per_epoch

        config = train_config(table)
        if self.found is None:
            per_epoch, title = ASSUMED_UPDATES, f"lr, {ASSUMED_UPDATES} updates/epoch (assumed)"
        else:
            images = self.found.images
            if self.found.val_images is None and not config.val_data:
                images = max(1, round(images * (1 - config.val_split)))
            nproc = self.query_one("#launch-nproc", Input).value.strip()  # type: ignore[attr-defined]
            per_epoch = updates_per_epoch(images, config, int(nproc) if nproc.isdigit() and int(nproc) else 1)
            title = f"lr, {per_epoch:,} updates/epoch"
        self._schedule_in_worker(config, lrs, per_epoch, title)

    def _preview_again(self) -> None:
        if self._lrs is not None:
            self.preview_schedule(self._lrs)

    @work(thread=True, exclusive=True, group="launch-schedule", exit_on_error=False, name="schedule preview")
    def _schedule_in_worker(self, config: Any, lrs: dict[str, float], per_epoch: int, title: str) -> None:
        from engine.train.schedule_preview import lr_schedule

        xs, curves = lr_schedule(config, list(lrs.values()), per_epoch)
        if not get_current_worker().is_cancelled:
            plot = self.query_one("#launch-schedule")  # type: ignore[attr-defined]
            named = dict(zip(lrs, curves, strict=True))
            self.app.call_from_thread(plot.show, xs, named, config.epochs, title)  # type: ignore[attr-defined]
