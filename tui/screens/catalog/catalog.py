"""The catalog: every model the engine knows, filtered as you type; Enter opens, d downloads,
w picks the weights to open with, s cycles the source (torchvision, timm, all), p plots the
listed models, space marks models and c compares them (catalog_plot.py, model_compare.py)."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from engine.models.figures import default_weights_of as default_weights  # the plot's figures too
from tui.format import human_count, short_name
from tui.messages import CatalogLoaded, DownloadDone, Progress
from tui.screens.base import PtmScreen
from tui.screens.catalog.weights_picker import DOWNLOAD, RANDOM_INIT, WeightsPicker
from tui.widgets.keybar import KeyBar
from tui.widgets.progress import DownloadBar

COLUMNS = (("model", "name"), ("task", "task"), ("params", "params"), ("acc@1", "acc1"),
           ("GFLOPs", "gflops"), ("size", "size"), ("cached", "cached"))

COLUMN_WIDTHS = {"task": 9, "params": 6, "acc1": 5, "gflops": 6, "size": 8, "cached": 6}
"""Fixed widths; the model name gets the rest of the screen."""
DROP_ORDER = ("size", "gflops", "acc1")
"""Columns left out, in this order, while the longest model name (up to NAME_MAX) does not fit."""
NAME_MAX = 40
SOURCES = ("torchvision", "timm", "all")
"""Where the listed models come from, in the order `s` cycles through them."""

TASK_SHORT = {"classification": "classify", "segmentation": "segment", "optical_flow": "flow",
              "quantized": "quantized", "detection": "detection", "video": "video"}


def matches(info: Any, terms: list[str]) -> bool:
    """Return whether every filter term is in the model's name or task."""
    haystack = f"{info.name} {info.task}".lower()
    return all(term in haystack for term in terms)


def best_first(models: list[Any], text: str) -> list[Any]:
    """Return `models` with the exact name match first (also without a `timm/` prefix), then
    names starting with `text`, then the rest (each group in catalog order), so enter on
    `resnet18` opens resnet18 (timm/resnet18 in the timm catalog)."""
    text = text.strip().lower()
    if not text:
        return list(models)

    def rank(info: Any) -> tuple[bool, ...]:
        name = info.name.lower()
        short = name.rpartition("/")[2]  # timm/resnet18 is an exact match for resnet18
        return (name != text and short != text, name != text,
                not (name.startswith(text) or short.startswith(text)))

    return sorted(models, key=rank)


class FilterInput(Input):
    """The filter box. Matching ignores case, so capital letters are left to the screen's keys
    (J opens Jobs while the box has the cursor)."""

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        """Let the screen's capital-letter keys through; take every other printable key."""
        if character is not None and character.isupper():
            return False
        return super().check_consume_key(key, character)


class CatalogScreen(PtmScreen):
    """Pick a model: type to filter, Enter to open, d to download its weights."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="catalog.open"),
        Binding("d", "download", "Download", id="catalog.download"),
        Binding("w", "pick_weights", "Pick weights", id="catalog.weights"),
        Binding("s", "cycle_source", "Source", id="catalog.source"),
        Binding("p", "plot", "Plot models", id="catalog.plot"),
        Binding("space", "mark", "Mark", id="catalog.mark"),
        Binding("c", "compare", "Compare marked models", id="catalog.compare"),
        Binding("escape", "cancel_download", "Cancel download", show=False,
                id="catalog.cancel_download"),
        Binding("slash", "focus_filter", "Filter", id="catalog.filter"),
        Binding("J", "jobs", "Jobs", priority=True, id="catalog.jobs"),  # the filter is lowercase
        Binding("down", "cursor_down", "Down", show=False, id="catalog.down"),
        Binding("up", "cursor_up", "Up", show=False, id="catalog.up"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.models: list[Any] = []
        self.shown: list[Any] = []
        self._cancel: threading.Event | None = None
        self._downloading: str | None = None
        self._downloading_default = False
        """The running download is the model's default weights (the catalog marks it cached)."""
        self.downloaded: set[str] = set()
        self.name_width = 24
        self.columns_shown = [key for _, key in COLUMNS]
        self.source = SOURCES[0]
        """Which models are listed: torchvision's, timm's, or all."""
        self.reading_list = True
        """The model list is being read (the status line says which source)."""
        self.marked: list[str] = []
        """The models marked (space) to compare, in the order marked."""

    def compose(self) -> ComposeResult:
        """Title, filter box, table, download bar, footer."""
        yield Static(Text.assemble(("ptm-tui", "bold"), "  type to filter, enter opens; "
                                   "tab: w weights, d download, s source"),  # the footer shows p, space, c
                     id="catalog-title")
        filter_box = FilterInput(placeholder="filter by name or task (e.g. resnet, detection)",
                           id="filter", select_on_focus=False)
        filter_box.cursor_blink = False  # a blinking cursor redraws over SSH twice a second
        yield filter_box
        table: DataTable = DataTable(id="catalog-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="catalog-status")
        yield DownloadBar(self.app.glyphs, id="download-bar")
        yield KeyBar(first=("catalog.plot", "catalog.mark", "catalog.compare"))

    def on_mount(self) -> None:
        """Set up the table and load the model list in a worker."""
        self._add_columns()
        self.query_one("#filter", Input).focus()
        self.load_catalog(self.source)

    def _add_columns(self) -> None:
        """(Re)create the table's columns, the model name taking the width left over."""
        table = self.query_one(DataTable)
        table.clear(columns=True)
        shown = [key for _, key in COLUMNS]
        longest = min(NAME_MAX, max([len(info.name) for info in self.models] or [28]))
        for dropped in (None, *DROP_ORDER):
            if dropped:
                shown.remove(dropped)
            fixed = sum(COLUMN_WIDTHS.get(key, 0) for key in shown)
            self.name_width = max(16, (self.size.width or 80) - fixed - 2 * len(shown) - 2)
            if self.name_width >= longest:
                break
        self.columns_shown = shown
        for label, key in COLUMNS:
            if key in shown:
                table.add_column(label, key=key, width=COLUMN_WIDTHS.get(key, self.name_width))

    def on_resize(self) -> None:
        """Fit the columns to the new width."""
        self._add_columns()
        self.refilter()

    def load_catalog(self, source: str) -> None:
        """Say the list is loading and read `source`'s models in a worker."""
        self.reading_list = True
        doing = "importing torch" if not self.models else f"{source}'s models"
        self.query_one("#catalog-status", Static).update(
            Text(f"loading the model list ({doing})... source: {source}", style="italic"))
        self._read_catalog(source)

    @work(thread=True, exclusive=True, group="catalog", exit_on_error=False, name="model list")
    def _read_catalog(self, source: str) -> None:
        """Read the engine's catalog in a thread (a newer read supersedes this one)."""
        from engine.models.catalog import list_models

        models = list_models(source=source)
        if not get_current_worker().is_cancelled:
            self.post_message(CatalogLoaded(models))

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        """Fill the table."""
        self.reading_list = False
        self.models = message.models
        self._add_columns()
        self.refilter()

    # --- filtering -----------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _on_filter(self, _: Input.Changed) -> None:
        self.refilter()

    def refilter(self) -> None:
        """Show the models that match the filter text."""
        text = self.query_one("#filter", Input).value
        terms = text.lower().split()
        self.shown = best_first([info for info in self.models if matches(info, terms)], text)
        table = self.query_one(DataTable)
        table.clear()
        for info in self.shown:
            row = zip(self._row(info), COLUMNS, strict=True)
            table.add_row(*(value for value, (_, key) in row if key in self.columns_shown),
                          key=info.name)
        table.move_cursor(row=0)  # the best match is under the cursor: enter opens it
        if self.reading_list:
            return  # the status line says what is loading
        status = f"{len(self.shown)} of {len(self.models)} models"
        if terms:
            status += f" matching '{' '.join(terms)}'"
        status += f"; source: {self.source} (s cycles)"
        self.query_one("#catalog-status", Static).update(Text(status, style="dim"))

    def _row(self, info: Any) -> tuple[Any, ...]:
        weights = default_weights(info)
        glyphs = self.app.glyphs
        name: Any = short_name(info.name, self.name_width, glyphs.ellipsis)
        if info.name in self.marked:
            name = Text.assemble((f"{glyphs.check} ", "bold green"),
                                 short_name(info.name, self.name_width - 2, glyphs.ellipsis))

        def number(value: Any, fmt: str) -> str:
            return "-" if value is None else format(value, fmt)

        if weights is None:
            return (name, TASK_SHORT.get(info.task, info.task), "-", "-", "-", "none", "")
        size = getattr(weights, "file_size_mb", None)
        is_cached = getattr(weights, "cached", False) or info.name in self.downloaded
        cached = Text(glyphs.check, style="bold green") if is_cached else ""
        return (name, TASK_SHORT.get(info.task, info.task), human_count(weights.params),
                number(weights.acc1, ".2f"), number(weights.gflops, ".2f"),
                "-" if size is None else f"{size:.1f} MB", cached)

    def action_cycle_source(self) -> None:
        """List the next source's models: torchvision, timm, all (timm's need timm installed)."""
        from engine.models.timm_models import timm_available

        following = SOURCES[(SOURCES.index(self.source) + 1) % len(SOURCES)]
        if following != "torchvision" and not timm_available():
            self.notify("timm is not installed, so only torchvision's models are listed "
                        "(pip install timm)", severity="warning", timeout=5)
            return
        self.source = following
        self.load_catalog(following)

    def action_jobs(self) -> None:
        """Open the Jobs screen (the finetune jobs on this machine)."""
        from tui.screens.jobs.jobs import JobsScreen

        self.app.push_screen(JobsScreen())

    def action_focus_filter(self) -> None:
        """Put the cursor in the filter box."""
        self.query_one("#filter", Input).focus()

    def action_cursor_down(self) -> None:
        """Move the table's cursor down (also from the filter box)."""
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        """Move the table's cursor up (also from the filter box)."""
        self.query_one(DataTable).action_cursor_up()

    # --- plotting and comparing (catalog_plot.py, model_compare.py) ------------------------

    def action_plot(self) -> None:
        """Plot the listed models: the task's metric against GFLOPs, the cursor's model marked."""
        from tui.screens.catalog.catalog_plot import CatalogPlotScreen

        if not self.shown:
            self.notify("no model listed to plot", severity="warning", timeout=3)
            return
        terms = self.query_one("#filter", Input).value.split()
        described = f"matching '{' '.join(terms)}'" if terms else f"from {self.source}"
        chosen = self.selected
        plot = CatalogPlotScreen(self.shown, chosen.name if chosen else None, self.marked,
                                 self.open_model, described)
        self.app.push_screen(plot, self._back_from_plot)

    def _back_from_plot(self, name: str | None) -> None:
        """Put the catalog's cursor on the model the plot last highlighted; show its marks."""
        cursor = self.query_one(DataTable).cursor_row
        names = [info.name for info in self.shown]
        self.refilter()
        self.query_one(DataTable).move_cursor(row=names.index(name) if name in names else cursor)

    def action_mark(self) -> None:
        """Mark the selected model to compare (or unmark it)."""
        from tui.screens.catalog.model_compare import mark_on

        info = self.selected
        if info is None or not mark_on(self, self.marked, info.name):
            return
        self.query_one(DataTable).update_cell(info.name, "name", self._row(info)[0])
        count = len(self.marked)
        self.notify(f"{count} marked{': c compares them' if count >= 2 else ''}", timeout=2)

    def action_compare(self) -> None:
        """Compare the marked models side by side (nothing is downloaded)."""
        from tui.screens.catalog.model_compare import compare_from

        compare_from(self, self.marked)

    # --- opening and downloading -----------------------------------------------------------

    @property
    def selected(self) -> Any | None:
        """The catalog entry under the table's cursor."""
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    @on(Input.Submitted, "#filter")
    @on(DataTable.RowSelected, "#catalog-table")
    def action_open(self) -> None:
        """Open the selected model in the explorer."""
        info = self.selected
        if info is None:
            self.notify("no model selected", severity="warning", timeout=3)
            return
        self.open_model(info)

    def open_model(self, info: Any) -> None:
        """Open catalog entry `info` in the explorer (its weights only when they are here)."""
        weights = self.app.weights
        if weights == "default":  # never reach the network unless asked: d downloads
            default = default_weights(info)
            if default is None or not (default.cached or info.name in self.downloaded):
                weights = "none"
                if default is not None:
                    self.notify(f"{info.name}: its weights are not downloaded yet, so it opens "
                                "with random weights (d in the catalog downloads them)", timeout=6)
        self.app.open_explorer(info.name, weights)

    def action_pick_weights(self) -> None:
        """List the selected model's weights entries; open the explorer with the one picked."""
        info = self.selected
        if info is None:
            self.notify("no model selected", severity="warning", timeout=3)
            return

        def open_with(choice: str | None) -> None:
            if choice is not None and choice.startswith(DOWNLOAD):  # d in the picker
                self._start_download(info, info.weights_named(choice.removeprefix(DOWNLOAD)))
            elif choice is not None:  # never downloads: weights not here show the "no weights" panel
                self.app.open_explorer(info.name, choice, offline=choice != RANDOM_INIT)

        self.app.push_screen(WeightsPicker(info, info.name in self.downloaded), open_with)

    def action_download(self) -> None:
        """Download the selected model's default weights in a worker."""
        info = self.selected
        if info is not None:
            self._start_download(info, default_weights(info))

    def _start_download(self, info: Any, weights: Any) -> None:
        """Download `weights` (an entry of model `info`) in a worker, with the progress bar."""
        if weights is None or not getattr(weights, "url", None):
            self.notify(f"{info.name} has no pretrained weights to download", timeout=4)
            return
        if self._downloading:
            self.notify(f"already downloading {self._downloading} (escape cancels it)",
                        severity="warning", timeout=3)
            return
        self._downloading = info.name
        self._downloading_default = weights.name == getattr(default_weights(info), "name", None)
        self._cancel = threading.Event()
        self.query_one(DownloadBar).start(f"{info.name}")
        self.download(info.name, weights.url, self._cancel)

    @work(thread=True, group="download", exit_on_error=False, name="download")
    def download(self, model: str, url: str, cancel: threading.Event) -> None:
        """Download `url` into the cache in a thread, posting progress."""
        from engine.models.weights import DownloadCancelled, download

        def progress(done: int, total: int | None) -> None:
            self.post_message(Progress(model, done, total))

        try:
            path = download(url, progress=progress, cancel=cancel)
        except DownloadCancelled:
            self.post_message(DownloadDone(model, None))
            return
        self.post_message(DownloadDone(model, path))

    def on_progress(self, message: Progress) -> None:
        """Move the progress bar."""
        self.query_one(DownloadBar).update_progress(message.done, message.total)

    def on_download_done(self, message: DownloadDone) -> None:
        """Mark the weights as cached (or say the download was cancelled)."""
        self._downloading = None
        self.query_one(DownloadBar).stop()
        if message.path is None:
            self.notify(f"download of {message.model} cancelled; nothing was kept", timeout=4)
            return
        self.notify(f"{message.model} weights are in the cache: {message.path}", timeout=5)
        if self._downloading_default:
            self.downloaded.add(message.model)
        self.refilter()

    def action_cancel_download(self) -> None:
        """Cancel the running download."""
        if self._cancel is not None and self._downloading:
            self._cancel.set()
        elif self.query_one("#filter", Input).value:
            self.query_one("#filter", Input).value = ""

    def on_unmount(self) -> None:
        """Stop a running download when the app closes."""
        if self._cancel is not None:
            self._cancel.set()

    def worker_failed(self, worker: Any) -> None:
        """A failed download hides its bar."""
        if worker.group == "download":
            self._downloading = None
            self.query_one(DownloadBar).stop()
