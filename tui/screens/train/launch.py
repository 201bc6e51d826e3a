"""The launch form: the explorer's model (head, freezes, edits) as a finetune job.

It shows the parameter groups the job will create (which layers, lr, weight decay) as the
form changes, and starts the job as its own process; the Jobs screen follows it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Collapsible, DataTable, Footer, Input, Label, Select, Static
from textual.widgets._collapsible import CollapsibleTitle

from tui.screens.base import PtmScreen, error_text
from tui.screens.train.launch_data import LaunchData
from tui.screens.train.launch_fields import (
    FIELDS,
    form_sections,
    label_of,
    read_fields,
    section_id,
    title_sections,
)
from tui.screens.train.launch_memory import MEMORY_PROMPT, show_memory_estimate
from tui.screens.train.launch_slurm import form_slurm_options, show_slurm_fields, slurm_chosen, slurm_widgets
from tui.widgets.schedule_plot import SchedulePlot
from tui.widgets.title import ScreenTitle


def _groups(
    model: Any, table: dict[str, Any], recipe_model: dict[str, Any]
) -> list[tuple[tuple[str, ...], Any]]:
    """Return (table row, group) for each parameter group a job with this table creates (for the
    recipe's `model` table, whose weights a preset reads)."""
    from engine.train.config import train_config
    from engine.train.params import param_groups, summarize_layers

    return [
        (
            (
                group.name,
                summarize_layers(group.layers, 3),
                f"{len(group.names)}",
                f"{group.count:,}",
                f"{group.lr:g}",
                f"{group.weight_decay:g}",
            ),
            group,
        )
        for group in param_groups(model, train_config(table, model=recipe_model))
    ]


def lr_curves(groups: list[Any], most: int = 3) -> dict[str, float]:
    """Return the distinct starting lrs of the groups, highest first, each named after the first
    group that has it (`head`, `backbone`); with more than `most`, the highest and lowest."""
    named: dict[float, str] = {}
    for group in groups:
        named.setdefault(float(group.lr), group.name.split(" ")[0])
    lrs = sorted(named, reverse=True)
    if len(lrs) > most:
        lrs = [lrs[0], lrs[-1]]
    return {named[lr] if list(named.values()).count(named[lr]) == 1 else f"lr {lr:g}": lr for lr in lrs}


KIND_WORDS = {
    "an int value": "a whole number",
    "a float value": "a number",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
}
"""The config's type names as the form says them."""


def in_form_words(problem: BaseException, typed: dict[str, Any] | None = None) -> str:
    """Return what is wrong with a form value as the form says it: its label and the `typed`
    text, not the [train] table's TOML (`[train] epochs = 'abc'`)."""
    import re

    key = getattr(problem, "field", None)
    if key is None:
        return error_text(problem)
    label = label_of(key)
    value = (typed or {}).get(key, getattr(problem, "value", ""))
    shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    words = [
        f"{label}: {shown!r} is not valid",
        str(getattr(problem, "why", "")),
        str(getattr(problem, "fix", "")),
    ]
    for index in (1, 2):
        text = re.sub(rf"\b{re.escape(key)} = ", "", words[index])
        text = text.replace("write ", "type ")
        text = re.sub(
            r'\[((?:"\w+", )*"\w+")\]', lambda m: m[1].replace('"', "").replace(" ", ""), text
        )  # a TOML list as the field takes it: crop,flip
        for kind, said in KIND_WORDS.items():
            text = re.sub(rf"\b{kind}\b(?! *=)", said, text)
        words[index] = text
    return "\n".join(part for part in words if part)


def task_line(model: Any) -> str:
    """Return a line naming the task and the data it reads, for models that are not classifiers."""
    from engine.errors import PtmError
    from engine.train.tasks import get_task, task_name_of

    try:
        task = get_task(task_name_of(model))
    except PtmError as error:  # video, optical flow: say so before the user fills the form
        return f"\ncannot finetune: {error.what}"
    if task.name == "classification":
        return ""
    return f"\ntask: {task.name.replace('_', ' ')} ({task.score_name}); data: {task.data_format}"


class QuitDialog(ModalScreen[bool]):
    """Asks before quitting with unsaved edits in the launch form."""

    DEFAULT_CSS = """
    QuitDialog { align: center middle; }
    QuitDialog > Vertical { width: 60; height: auto; max-width: 100%; padding: 1 2;
                            border: thick $warning; background: $surface; }
    QuitDialog Horizontal { height: auto; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,q", "answer(True)", "Quit", id="launch.quit_yes"),
        Binding("n,escape", "answer(False)", "Stay", id="launch.quit_no"),
    ]

    def compose(self) -> ComposeResult:
        """The question and its two answers."""
        with Vertical():
            yield Static("Quit ptm-tui? The launch form has edits that are not launched.")
            with Horizontal():
                yield Button("Quit (y)", id="quit-yes", variant="error")
                yield Button("Stay (n)", id="quit-no", variant="primary")

    def on_mount(self) -> None:
        """Stay is the safe default."""
        self.query_one("#quit-no", Button).focus()

    def action_answer(self, quit_now: bool) -> None:
        """Close with the answer."""
        self.dismiss(quit_now)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit-yes")


class LaunchScreen(LaunchData, PtmScreen):
    """A form for the [train] table in titled sections; what the data holds, the schedule and the
    parameter groups it gives; and Launch."""

    DEFAULT_CSS = """
    LaunchScreen #launch-body { height: 1fr; }
    LaunchScreen #launch-left { width: 50%; min-width: 34; max-width: 64; height: 1fr;
                                border-right: vkey $primary 40%; }
    LaunchScreen #launch-form { height: 1fr; padding: 0 1 0 0; }
    LaunchScreen #launch-form Collapsible { padding-bottom: 0; border-top: none; }
    LaunchScreen #launch-form Collapsible > Contents { padding: 0 0 0 1; }
    LaunchScreen #launch-form CollapsibleTitle { width: 1fr; }
    LaunchScreen .fields { grid-size: 2; grid-columns: 16 1fr; grid-rows: 1; height: auto; }
    LaunchScreen .field-label { color: $text-muted; }
    LaunchScreen #launch-found { width: 100%; height: auto; color: $text-muted; }
    LaunchScreen #launch-found.problem { color: $warning; }
    LaunchScreen #launch-help { height: 3; padding: 0 1; color: $text-muted; }
    LaunchScreen #launch-right { width: 1fr; padding: 0 0 0 1; }
    LaunchScreen #launch-preview { height: 1fr; }
    LaunchScreen #launch-schedule { height: 1fr; min-height: 9; max-height: 16; }
    LaunchScreen #launch-groups { height: auto; max-height: 12; }
    LaunchScreen #launch-error { height: auto; max-height: 12; color: $error; }
    LaunchScreen #launch-summary { height: auto; }
    LaunchScreen #launch-buttons { height: auto; }
    LaunchScreen #launch-buttons Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l,f5", "launch", "Launch", id="launch.launch"),
        Binding("ctrl+f,f6", "find_lr", "Find lr", id="launch.find_lr"),
        Binding("ctrl+g,f7", "estimate_memory", "Memory", id="launch.estimate_memory"),
        Binding("escape", "close", "Back", id="launch.close"),
        Binding("q", "quit_app", "Quit", id="launch.quit"),
    ]

    def __init__(self, workbench: Any, defaults: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.workbench = workbench
        self.defaults = dict(defaults or {})
        if "image_size" not in self.defaults:
            size = (workbench.meta or {}).get("crop_size")
            if not size and workbench.input_size:
                size = workbench.input_size[-1]
            if size:
                self.defaults["image_size"] = int(size)
        self.table: dict[str, Any] | None = None
        self.launched: str | None = None
        self.initial: list[Any] = []
        self.shown_groups: list[tuple[str, ...]] = []

    def compose(self) -> ComposeResult:
        """The sections of fields on the left; the summary, schedule, groups and Launch on the right."""
        yield ScreenTitle("Finetune", getattr(self.workbench, "name", ""))
        with Horizontal(id="launch-body"):
            with Vertical(id="launch-left"):
                with VerticalScroll(id="launch-form"):
                    yield from form_sections(self.defaults, {"Run & device": list(slurm_widgets())})
                yield Static("", id="launch-help")
            with Vertical(id="launch-right"):
                with VerticalScroll(id="launch-preview"):
                    yield Static(self._summary(), id="launch-summary")
                    yield Static(MEMORY_PROMPT, id="launch-memory")
                    yield SchedulePlot(id="launch-schedule")
                    yield Label("parameter groups the job will create:")
                    yield DataTable(id="launch-groups", cursor_type="row")
                yield Static("", id="launch-error")
                with Horizontal(id="launch-buttons"):
                    yield Button("Launch (ctrl+l)", id="launch-go", variant="primary", compact=True)
                    yield Button("Back", id="launch-back", compact=True)
        yield Footer()

    def _summary(self) -> str:
        wb = self.workbench
        total, trainable = wb.counts()
        edits = ", ".join(e.get("op", "?") for e in wb.edits) or "none"
        bn = "on" if self.defaults.get("freeze_bn", True) else "off"
        return (
            f"{wb.name} ({wb.source}); {trainable:,} of {total:,} parameters train\n"
            f"recipe edits: {edits}\nfrozen BatchNorm in eval mode: {bn} (b in the explorer)"
            + task_line(wb.model)
        )

    def on_mount(self) -> None:
        """Fill the group preview and put the cursor in the first field (the data folder)."""
        self.query_one("#launch-groups", DataTable).add_columns(
            "group", "layers", "tensors", "params", "lr", "weight decay"
        )
        self.refresh_groups()
        self.query_one("#launch-data", Input).focus()
        self.initial = self.form_values()
        self._restore_draft()
        self.count_data()

    def _drafts(self) -> dict[str, dict[str, Any]]:
        """The values typed into launch forms this session, by model (kept until the app quits)."""
        drafts = getattr(self.app, "launch_drafts", None)
        if drafts is None:
            drafts = {}
            self.app.launch_drafts = drafts  # type: ignore[attr-defined]
        return drafts

    def _restore_draft(self) -> None:
        """Put back what was typed the last time this model's form was open (Esc keeps it)."""
        draft = self._drafts().get(getattr(self.workbench, "name", ""), {})
        for widget in self.query("#launch-form Input, #launch-form Select"):
            if widget.id in draft:
                widget.value = draft[widget.id]  # type: ignore[attr-defined]

    def _keep_draft(self) -> None:
        """Remember every field's value for the next time the form opens."""
        if not self.is_mounted or not self.initial:
            return
        self._drafts()[getattr(self.workbench, "name", "")] = {
            w.id: w.value for w in self.query("#launch-form Input, #launch-form Select") if w.id
        }

    def form_values(self) -> list[Any]:
        """Return every field's current value (to tell whether the form was edited)."""
        return [w.value for w in self.query("#launch-form Input, #launch-form Select")]

    def action_quit_app(self) -> None:
        """Quit ptm-tui, asking first when the form has edits that would be lost."""
        if self.form_values() == self.initial or self.launched:
            getattr(self.app, "quit_asking", self.app.exit)()  # the explorer's edits next
            return

        def answer(quit_now: bool | None) -> None:
            if quit_now:
                getattr(self.app, "quit_asking", self.app.exit)()

        self.app.push_screen(QuitDialog(), answer)

    def form_table(self) -> dict[str, Any]:
        """Return the [train] table the form describes (empty fields left to defaults)."""
        table = read_fields(self)
        if "freeze_bn" in self.defaults:  # b in the explorer
            table["freeze_bn"] = bool(self.defaults["freeze_bn"])
        return table

    @on(Input.Changed)
    @on(Select.Changed)
    def refresh_groups(self) -> None:
        """Recompute the parameter groups for the current form (or show what is wrong)."""
        self._keep_draft()
        show_slurm_fields(self)
        title_sections(self)
        groups = self.query_one("#launch-groups", DataTable)
        error = self.query_one("#launch-error", Static)
        try:
            recipe_model = self.workbench.recipe()["model"]
            found = _groups(self.workbench.model, self.form_table(), recipe_model)
            from engine.train.config import train_config

            self.table = train_config(self.form_table(), model=recipe_model).to_dict()
        except Exception as problem:  # a half-typed number: show it, keep the form usable
            self.table = None
            error.update(Text(in_form_words(problem, self.form_table())))  # typed values and paths: no markup
            self._open_section_of(getattr(problem, "field", None))
            return
        rows = [row for row, _ in found]
        if rows != self.shown_groups:  # typing a path changes no group: no redraw
            self.shown_groups = rows
            groups.clear()
            groups.add_rows(rows)
        self.preview_schedule(lr_curves([group for _, group in found]))
        if slurm_chosen(self):
            try:
                form_slurm_options(self, None)
            except Exception as problem:  # the CLI's own check of the Slurm fields
                error.update(Text(error_text(problem)))
                return
        missing = "" if self.table.get("data") else "give a data folder to launch"
        error.update(missing if rows else "nothing trains: unfreeze the head first")

    @on(Input.Changed, "#launch-data, #launch-val_data")
    def _data_changed(self) -> None:
        """Count what the typed data path holds once typing pauses."""
        self.count_data_soon()

    def _open_section_of(self, key: str | None) -> None:
        """Open the section of the field a problem names, so the field can be seen and fixed."""
        if key in FIELDS:
            self.query_one(f"#{section_id(key)}", Collapsible).collapsed = False

    def on_descendant_focus(self, event: Any) -> None:
        """Say what the focused field does under the form."""
        text = str(event.widget.tooltip or "")  # each field's tooltip says what it does
        if isinstance(event.widget, CollapsibleTitle):
            text = f"enter: open or close {event.widget.label}"
        self.query_one("#launch-help", Static).update(Text(text))

    def action_find_lr(self) -> None:
        """Run the learning-rate range test on a copy of the model with this form's data and
        groups; Enter in it puts the suggestion into the lr field (tui/screens/train/lr_find.py)."""
        if self.table is None or not self.table.get("data"):
            self.notify(
                "give a data folder first: the range test trains on it", severity="warning", markup=False
            )
            return
        from tui.screens.train.lr_find import LrFindScreen

        def take(lr: float | None) -> None:
            if lr is not None:
                self.query_one("#launch-lr", Input).value = f"{lr:.3g}"
                self.notify(f"lr set to {lr:.3g} (the range test's suggestion)", markup=False)

        wb = self.workbench
        self.app.push_screen(LrFindScreen(wb.model, dict(self.table), wb.meta, wb.name), take)

    def action_estimate_memory(self) -> None:
        """Estimate one training step's peak memory for the form (fake tensors, in a worker) and
        show it beside the device's free memory."""
        if self.table is None:
            self.notify("fix the form first: the estimate reads its batch size, image size and amp",
                        severity="warning", markup=False)
            return
        self.query_one("#launch-memory", Static).update("estimating one step's memory …")
        show_memory_estimate(self)

    @on(Button.Pressed, "#launch-go")
    def action_launch(self) -> None:
        """Create the job from the workbench's recipe and the form, and start it."""
        if self.table is None or not self.table.get("data"):
            self.notify("fix the form first", severity="warning")
            return
        nproc_text = self.query_one("#launch-nproc", Input).value.strip() or "1"
        if not nproc_text.isdigit() or int(nproc_text) < 1:
            self.notify("processes must be a whole number >= 1", severity="error")
            return
        recipe = dict(self.workbench.recipe())
        slurm = None
        if not slurm_chosen(self):  # a Slurm job's device is on the node it gets, not here
            try:
                from engine.train.config import train_config
                from engine.train.device_check import check_training_device

                check_training_device(train_config(self.table))
            except Exception as problem:  # cuda where torch sees none: before a job folder exists
                self.query_one("#launch-error", Static).update(Text(f"not launched: {error_text(problem)}"))
                return
        if slurm_chosen(self):
            try:  # checked before a job folder exists, as `finetune --slurm` does
                slurm = form_slurm_options(self, int(nproc_text))
            except Exception as problem:
                self.query_one("#launch-error", Static).update(Text(f"not launched: {error_text(problem)}"))
                return
        self._launch(recipe, dict(self.table), int(nproc_text), slurm)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False, name="launch job")
    def _launch(self, recipe: dict[str, Any], table: dict[str, Any], nproc: int, slurm: Any = None) -> None:
        from engine.jobs.launch import create_job, launch

        job_dir = create_job({**recipe, "train": table})
        if slurm is not None:
            from tui.cli.slurm_flags import submit_new

            submit_new(job_dir, slurm)  # sbatch's refusal: the folder goes, its words reach the form
        else:
            launch(job_dir, nproc=nproc)
        self.app.call_from_thread(self._launched, job_dir.name)

    def worker_failed(self, worker: Any) -> bool | None:
        """A job that cannot be created says why in the form, where the fix is typed."""
        if worker.group != "launch":
            return None
        self.query_one("#launch-error", Static).update(
            Text(f"not launched: {in_form_words(worker.error, self.form_table())}")
        )
        return True

    def _launched(self, job: str) -> None:
        self.launched = job
        self.notify(f"started job {job}; it keeps running if you close ptm-tui")
        from tui.screens.jobs.jobs import JobsScreen

        self.app.switch_screen(JobsScreen(select=job))

    @on(Button.Pressed, "#launch-back")
    def action_close(self) -> None:
        """Go back to the explorer without launching."""
        self.app.pop_screen()
