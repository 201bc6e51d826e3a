"""The evaluation of a finetune job on its validation folder: accuracy, per-class precision and
recall, and the confusion matrix, shaded by count (the TUI face of `ptm-tui eval`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from engine.text import printable
from tui.navigation import NavigationKeys
from tui.screens.base import error_text

SHADES = ("", "on #12324a", "on #1d5277", "on #2a73a6", "on #3a94d4")
"""Cell backgrounds from few to many images (the diagonal is what the model got right)."""


def val_folder(job_dir: str | Path) -> Path | None:
    """Return the job's validation folder (its data's val/), or None when it splits one folder."""
    from engine.edit.recipe import load
    from engine.train.data import VAL_NAMES

    train = load(Path(job_dir) / "spec.toml").train or {}
    if train.get("val_data"):  # a detector's val.json
        return Path(str(train["val_data"])).expanduser()
    root = Path(str(train.get("data", ""))).expanduser()
    return next((root / n for n in VAL_NAMES if (root / n).is_dir()), None)


def held_out_split(job_dir: str | Path) -> tuple[float, int]:
    """Return (val_split, seed) with which the job held out part of its one data folder; raise
    BadInput saying what to run when there is no such part (or it is part of a COCO file)."""
    from engine.edit.recipe import load
    from engine.errors import BadInput
    from engine.train.config import train_config

    job = Path(job_dir).name
    config = train_config(load(Path(job_dir) / "spec.toml").train or {})
    if str(config.data).lower().endswith(".json"):  # a COCO file: held-out images are another file
        raise BadInput(f"job {job} held out part of {Path(config.data).name} by val_split "
                       "and has no val_data",
                       "its held-out images are not a COCO file of their own",
                       f"run `ptm-tui eval {job} --data val.json` on a COCO file of held-out images")
    if config.val_split <= 0 or not Path(config.data).expanduser().is_dir():
        raise BadInput(f"job {job}'s data has no val/ folder and no val_split",
                       "there is no held-out part of its data to evaluate on",
                       f"run `ptm-tui eval {job} --data DIR` on a folder of held-out images")
    return config.val_split, config.seed


def images_folder(job_dir: str | Path) -> str | None:
    """Return the folder the job's COCO file_names are relative to ([train] images), if it set one."""
    from engine.edit.recipe import load

    train = load(Path(job_dir) / "spec.toml").train or {}
    return str(train["images"]) if train.get("images") else None


def matrix_rows(result: dict[str, Any]) -> list[list[Text]]:
    """Return the confusion matrix as table rows, each cell shaded by its share of the row."""
    rows = []
    for name, counts in zip(result["classes"], result["confusion"]):
        total = max(1, sum(counts))
        cells = [Text(printable(name))]
        for n in counts:
            shade = SHADES[min(len(SHADES) - 1, round(4 * n / total + 0.49))] if n else ""
            cells.append(Text(str(n) if n else ".", style=shade, justify="right"))
        rows.append(cells)
    return rows


class JobEvalScreen(ModalScreen[None], NavigationKeys):
    """Accuracy, precision/recall per class and the confusion matrix of one job."""

    DEFAULT_CSS = """
    JobEvalScreen { align: center middle; }
    JobEvalScreen > Vertical { width: 100%; max-width: 110; height: 100%; max-height: 40;
                               border: thick $primary; background: $surface; padding: 0 1; }
    JobEvalScreen #eval-summary { height: auto; }
    JobEvalScreen #eval-matrix { height: 1fr; min-height: 6; }
    JobEvalScreen #eval-classes { height: 1fr; min-height: 4; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="jobs.eval_close"),
    ]

    def __init__(self, job: str, job_dir: str) -> None:
        super().__init__()
        self.job, self.job_dir = job, job_dir
        self.result: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        """A summary line, the matrix (rows: true class) and the per-class table."""
        with Vertical():
            yield Static(Text(f"evaluating {self.job} on its validation folder..."),
                         id="eval-summary")
            yield DataTable(id="eval-matrix", cursor_type="none", zebra_stripes=False)
            yield DataTable(id="eval-classes", cursor_type="row")

    def on_mount(self) -> None:
        """Start the evaluation in a thread."""
        self.run_eval()

    @work(thread=True, exclusive=True, exit_on_error=False, name="evaluate job")
    def run_eval(self) -> None:
        """Evaluate the job's newest checkpoint on its val/ folder."""
        from engine.edit.recipe import load
        from engine.jobs.evaluate import evaluate
        from engine.jobs.trained import job_checkpoint

        try:
            job_checkpoint(Path(self.job_dir))  # none: why (failed, not started) and what to do
            folder, held_out = val_folder(self.job_dir), None
            if folder is None:  # one folder split by val_split: the part the training held out
                held_out = held_out_split(self.job_dir)
                folder = Path(str(load(Path(self.job_dir) / "spec.toml").train["data"])).expanduser()
            result = evaluate(str(self.job_dir), folder, held_out=held_out,
                              trust_code=getattr(self.app, "trust_code", False),
                              images_dir=images_folder(self.job_dir))
        except Exception as error:  # shown where the result would be; the app keeps running
            self.app.call_from_thread(self._failed, error_text(error))
            return
        where = f"{folder} ({held_out[0]:.0%} held out, seed {held_out[1]})" if held_out else str(folder)
        self.app.call_from_thread(self._show, result, where)

    def _failed(self, message: str) -> None:
        self.query_one("#eval-summary", Static).update(Text(printable(f"cannot evaluate: {message}")))

    def _show(self, result: dict[str, Any], folder: str) -> None:
        self.result = result
        if "task" in result:  # a detector or segmenter: its COCO mAPs or mean IoU
            figures = ", ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float))
            self.query_one("#eval-summary", Static).update(Text(
                f"{printable(self.job)} on {printable(folder)} ({result['task']}, "
                f"{result['images']} images): {figures}"))
            return
        skipped = f", {result['skipped']} unreadable skipped" if result["skipped"] else ""
        self.query_one("#eval-summary", Static).update(Text(
            f"{printable(self.job)} on {printable(folder)}: accuracy {result['accuracy']:.2f}% over "
            f"{result['images']} images{skipped}   (rows: true class, columns: predicted)"))
        matrix = self.query_one("#eval-matrix", DataTable)
        matrix.add_columns("true \\ predicted", *[Text(printable(c)[:8]) for c in result["classes"]])
        matrix.add_rows(matrix_rows(result))
        table = self.query_one("#eval-classes", DataTable)
        table.add_columns("class", "precision", "recall", "images")
        for row in result["per_class"]:
            table.add_row(Text(printable(row["class"])), *(f"{100 * v:.1f}%" if v is not None else "-"
                                                 for v in (row["precision"], row["recall"])),
                          str(row["support"]))
