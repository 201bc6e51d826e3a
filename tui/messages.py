"""Messages that workers post back to the screens (results of heavy work done off the UI thread)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


class ModelOpened(Message):
    """A model is open: the explorer can build its tree."""

    def __init__(self, workbench: Any) -> None:
        self.workbench = workbench
        super().__init__()


class ModelPreview(Message):
    """The model's structure (built on the meta device) while its weights load."""

    def __init__(self, model: Any) -> None:
        self.model = model
        super().__init__()


class TorchImported(Message):
    """torch has finished importing (the model is being built next)."""


@dataclass
class PanelData:
    """Everything the layer panel shows for one path, computed in a worker."""

    path: str
    type_name: str
    repr_line: str
    params: list[tuple[str, str, str, str, int, bool]] = field(default_factory=list)
    more_params: int = 0
    stats: Any = None
    """An engine.inspect.stats.LayerStats, or None when the layer has no parameters."""
    hist_counts: list[float] = field(default_factory=list)
    hist_edges: list[float] = field(default_factory=list)
    hist_values: int = 0
    """How many values the histogram counts (a strided sample of big layers)."""
    value_count: int = 0
    """How many parameter values the layer holds."""


class PanelReady(Message):
    """The details of the layer under the cursor are ready."""

    def __init__(self, data: PanelData) -> None:
        self.data = data
        super().__init__()


class SummaryReady(Message):
    """A model summary (output shape, mult-adds per path) has been computed."""

    def __init__(self, summary: dict[str, Any], generation: int = 0) -> None:
        self.summary = summary
        self.generation = generation
        """The explorer's edit count when it started: an older summary is dropped."""
        super().__init__()


class Progress(Message):
    """Download progress: `done` bytes of `total` (None when unknown)."""

    def __init__(self, label: str, done: int, total: int | None) -> None:
        self.label = label
        self.done = done
        self.total = total
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        """A newer progress report replaces an older one still waiting in the queue."""
        return isinstance(message, Progress) and message.label == self.label


class DownloadDone(Message):
    """A download finished (path set) or was cancelled (path None)."""

    def __init__(self, model: str, path: Any | None) -> None:
        self.model = model
        self.path = path
        super().__init__()


class CatalogLoaded(Message):
    """The list of models is ready."""

    def __init__(self, models: list[Any]) -> None:
        self.models = models
        super().__init__()
