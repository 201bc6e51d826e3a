"""Predict: ask for an image path, show the model's top-k categories as a bar chart with names."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Input, Label, Static

from engine.text import printable
from tui.screens.use.image_prompt import ImagePromptScreen
from tui.widgets.path_input import PathInput
from tui.widgets.title import ScreenTitle

BAR_WIDTH = 40
LABEL_WIDTH = 28


def bar_chart(top: list[dict[str, Any]], ascii_only: bool = False, width: int = BAR_WIDTH,
              key: str = "prob") -> Text:
    """Return one line per class: name, a bar as long as its probability, the percentage."""
    full, parts = ("#", " ") if ascii_only else ("█", " ▏▎▍▌▋▊▉")
    text = Text()
    for item in top:
        value = max(0.0, min(1.0, float(item[key])))
        eighths = round(value * width * 8)
        bar = full * (eighths // 8)
        if not ascii_only and eighths % 8:
            bar += parts[eighths % 8]
        label = printable(item["label"])
        label = label if len(label) <= LABEL_WIDTH else label[:LABEL_WIDTH - 1] + "…"
        text.append(f"{label:>{LABEL_WIDTH}} ", style="bold")
        text.append(f"{bar:<{width}}", style="cyan")
        text.append(f" {value:7.2%}")
        text.append(f"  ({item['index']})\n", style="dim")
    return text


def detections_text(found: list[dict[str, Any]], ascii_only: bool = False) -> Text:
    """Return the detections as bars of their scores, with boxes and visible keypoints."""
    if not found:
        return Text("no detections above the score threshold", style="dim")
    top = [{"label": d["label"], "index": d["index"], "prob": d["score"]} for d in found]
    text = bar_chart(top, ascii_only, key="prob")
    for item in found:
        box = ", ".join(f"{v:.0f}" for v in item["box"])
        points = sum(1 for p in item.get("keypoints", []) if p["visible"])
        extra = f", {points} visible keypoints" if "keypoints" in item else ""
        text.append(f"{printable(item['label'])}: box [{box}]{extra}\n", style="dim")
    return text


class PredictionReady(Message):
    """The top-k of an image, computed in a worker."""

    def __init__(self, result: dict[str, Any], note: str | None) -> None:
        super().__init__()
        self.result = result
        self.note = note


class PredictScreen(ImagePromptScreen):
    """Type an image path, press enter: the top-k categories as a bar chart with their names."""

    DEFAULT_CSS = """
    PredictScreen #predict-ask { height: auto; padding: 0 1; }
    PredictScreen #predict-ask Label { padding: 1 1 0 0; }
    PredictScreen #predict-path { width: 1fr; }
    PredictScreen #predict-topk { width: 10; }
    PredictScreen #predict-status { height: auto; padding: 0 1; color: $text-muted; }
    PredictScreen #predict-chart { padding: 1 1; }
    """

    PREFIX = "predict"
    FAILED = "prediction failed"

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "close", "Back", id="predict.close"),
    ]

    def __init__(self, workbench: Any, image: str | None = None, topk: int = 5) -> None:
        super().__init__()
        self.workbench = workbench
        self.image = image if image is not None else self.last_image
        self.topk = topk
        self.result: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        """The path prompt, the status line and the chart."""
        yield ScreenTitle("Predict", self.workbench.name)
        with Horizontal(id="predict-ask"):
            yield Label("image")
            yield PathInput(self.image, placeholder="path to an image (enter: predict)",
                        id="predict-path")
            yield Label("top")
            yield Input(str(self.topk), type="integer", id="predict-topk")
        yield Static(f"{escape(self.workbench.name)}: type an image path and press enter",
                     id="predict-status")
        with VerticalScroll():
            yield Static("", id="predict-chart")
        yield Footer()

    def start(self) -> None:
        """Read the fields and predict in a worker (enter in either field predicts)."""
        path = self.prompted_path()
        if path is None:
            return
        topk_text = self.query_one("#predict-topk", Input).value.strip()
        self.topk = int(topk_text) if topk_text.isdigit() and int(topk_text) > 0 else 5
        self.set_status(f"predicting {escape(path)}...")
        self.predict(path, self.topk)

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False, name="predict")
    def predict(self, path: str, topk: int) -> None:
        """Run the model on the image in a thread; post the result."""
        from engine.use.inference import predict_ready, workbench_ready

        opened = workbench_ready(self.workbench)  # the weights in force say how and what
        [result] = predict_ready(opened, [path], topk=topk, min_score=0.3)
        said = [opened.preprocess.source] if self.workbench.meaning else []  # a finetune's
        note = "; ".join(said + ([opened.labels_note] if opened.labels_note else []))
        self.post_message(PredictionReady(result, note or None))

    def clear_result(self) -> None:
        """Take the previous chart off the screen (a failure's reason goes in its place)."""
        self.result = None
        self.query_one("#predict-chart", Static).update("")

    def on_prediction_ready(self, message: PredictionReady) -> None:
        """Draw the chart."""
        self.result = message.result
        ascii_only = getattr(self.app, "ascii_only", False)
        chart = self.query_one("#predict-chart", Static)
        status = f"{escape(message.result['image'])}"
        if "detections" in message.result:
            chart.update(detections_text(message.result["detections"], ascii_only))
            status += f": {len(message.result['detections'])} detection(s)"
        else:
            # the bar gets what the name, the percentage and the class index leave of the width
            room = (chart.content_region.width or self.size.width - 2) - LABEL_WIDTH - 16
            chart.update(bar_chart(message.result["top"], ascii_only,
                                   width=max(8, min(BAR_WIDTH, room))))
            status += f": top {len(message.result['top'])}"
        if message.note:
            status += f"\n[dim]{escape(message.note)}[/]"
        self.set_status(status)
