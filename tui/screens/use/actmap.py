"""Activation maps in the terminal: half-block cells carry two pixels; step through the layers."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.color import Color
from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, Static

from tui.screens.use.image_prompt import ImagePromptScreen
from tui.widgets.path_input import PathInput
from tui.widgets.title import ScreenTitle

RAMP = " .:-=+*#%@"
"""Characters from dark to bright for --ascii (one pixel per cell)."""


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """Return `size` scaled to fit inside `box`, keeping its aspect ratio (at least 1x1)."""
    width, height = size
    scale = min(box[0] / width, box[1] / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def half_block_lines(image: Any, columns: int, rows: int) -> list[list[Segment]]:
    """Return the image as rows of "▀" cells: the top pixel in the foreground, the bottom in
    the background, so each cell shows two pixels (fitted to columns x rows*2, aspect kept)."""
    import numpy as np
    from PIL import Image

    width, height = fit(image.size, (columns, rows * 2))
    height += height % 2
    pixels = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR))
    lines = []
    for y in range(0, height, 2):
        segments = []
        for x in range(width):
            top, bottom = pixels[y, x], pixels[y + 1, x]
            style = Style(color=Color.from_rgb(*map(int, top)),
                          bgcolor=Color.from_rgb(*map(int, bottom)))
            segments.append(Segment("▀", style))
        lines.append(segments)
    return lines


def ramp_lines(values: Any, columns: int, rows: int) -> list[list[Segment]]:
    """Return a [0, 1] map as rows of ramp characters (one per cell; cells are twice as tall)."""
    import numpy as np
    from PIL import Image

    h, w = values.shape
    width, height = fit((w * 2, h), (columns, rows))  # a cell is about twice as tall as wide
    small = np.asarray(Image.fromarray(values.astype(np.float32), mode="F")
                       .resize((width, height), Image.Resampling.BILINEAR))
    index = np.clip((small * (len(RAMP) - 1)).round(), 0, len(RAMP) - 1).astype(int)
    return [[Segment("".join(RAMP[i] for i in row))] for row in index]


class PixelView(Widget):
    """Draws one activation map: half blocks in colour, or a character ramp in --ascii mode."""

    DEFAULT_CSS = "PixelView { width: 1fr; height: 1fr; }"
    can_focus = True

    def __init__(self, ascii_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ascii_only = ascii_only
        self.item: Any = None
        self._lines: list[list[Segment]] = []
        self._drawn_for: tuple[int, int] = (0, 0)

    def show(self, item: Any) -> None:
        """Draw this ActMap (its overlay, or its values as a ramp in --ascii mode)."""
        self.item = item
        self._drawn_for = (0, 0)
        self.refresh()

    def _layout_lines(self) -> list[list[Segment]]:
        size = (self.size.width, self.size.height)
        if self.item is None or min(size) < 1:
            return []
        if size != self._drawn_for:
            self._drawn_for = size
            if self.ascii_only:
                self._lines = ramp_lines(self.item.values, *size)
            else:
                self._lines = half_block_lines(self.item.overlay, *size)
        return self._lines

    def render_line(self, y: int) -> Strip:
        """Return row `y` of the picture (blank below it)."""
        lines = self._layout_lines()
        if y >= len(lines):
            return Strip.blank(self.size.width)
        return Strip(lines[y]).extend_cell_length(self.size.width)


class MapsReady(Message):
    """The activation maps of an image, computed in a worker."""

    def __init__(self, maps: list[Any], image: str) -> None:
        super().__init__()
        self.maps = maps
        self.image = image


class ActmapScreen(ImagePromptScreen):
    """Type an image path: the activation map of each stage over it, one layer at a time."""

    DEFAULT_CSS = """
    ActmapScreen #actmap-ask { height: auto; padding: 0 1; }
    ActmapScreen #actmap-ask Label { padding: 1 1 0 0; }
    ActmapScreen #actmap-path { width: 1fr; }
    ActmapScreen #actmap-status { height: auto; padding: 0 1; }
    """

    PREFIX = "actmap"
    FAILED = "activation maps failed"

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("right,l,n,]", "step(1)", "Next layer", id="actmap.next"),
        Binding("left,h,p,[", "step(-1)", "Previous layer", id="actmap.previous"),
        Binding("home,g", "first", "First", show=False, id="actmap.first"),
        Binding("end,G", "last", "Last", show=False, id="actmap.last"),
        Binding("escape", "close", "Back", id="actmap.close"),
    ]

    def __init__(self, workbench: Any, image: str | None = None,
                 layers: list[str] | None = None) -> None:
        super().__init__()
        self.workbench = workbench
        self.image = image if image is not None else self.last_image
        self.chosen_layers = layers
        self.maps: list[Any] = []
        self.index = 0

    def compose(self) -> ComposeResult:
        """The path prompt, the layer line and the picture."""
        yield ScreenTitle("Activation maps", self.workbench.name)
        with Horizontal(id="actmap-ask"):
            yield Label("image")
            yield PathInput(self.image, placeholder="path to an image (enter: draw the maps)",
                        id="actmap-path")
        yield Static(f"{escape(self.workbench.name)}: type an image path and press enter",
                     id="actmap-status")
        yield PixelView(ascii_only=getattr(self.app, "ascii_only", False), id="actmap-view")
        yield Footer()

    def start(self) -> None:
        """Compute the maps of the image in the prompt in a worker."""
        path = self.prompted_path()
        if path is None:
            return
        self.set_status(f"computing activation maps of {escape(path)}...")
        self.compute(path)

    @work(thread=True, exclusive=True, group="actmap", exit_on_error=False,
          name="activation maps")
    def compute(self, path: str) -> None:
        """Run the model on the image in a thread with hooks on the layers; post the maps."""
        from engine.use.actmap import activation_maps
        from engine.use.inference import workbench_ready

        opened = workbench_ready(self.workbench)  # the weights in force say how images go in
        maps = activation_maps(opened.model, path, self.chosen_layers, opened.preprocess)
        self.post_message(MapsReady(maps, path))

    def clear_result(self) -> None:
        """Take the previous maps off the screen (a failure's reason goes in their place)."""
        self.maps = []
        self.query_one(PixelView).show(None)

    def on_maps_ready(self, message: MapsReady) -> None:
        """Show the first layer."""
        self.maps = message.maps
        self.image = message.image
        self.index = 0
        self.query_one(PixelView).focus()
        self._show()

    def _show(self) -> None:
        if not self.maps:
            return
        item = self.maps[self.index]
        shape = "x".join(str(n) for n in item.shape[1:])
        keys = "←/→ (h/l) step layers, esc back"
        self.set_status(
            f"layer {self.index + 1}/{len(self.maps)}: [bold]{escape(item.layer)}[/] "
            f"({shape})  [dim]{escape(self.image)} · {keys}[/]")
        self.query_one(PixelView).show(item)

    def action_step(self, delta: int) -> None:
        """Show the next (or previous) layer, wrapping around."""
        if self.maps:
            self.index = (self.index + delta) % len(self.maps)
            self._show()

    def action_first(self) -> None:
        """Show the first layer."""
        if self.maps:
            self.index = 0
            self._show()

    def action_last(self) -> None:
        """Show the last layer."""
        if self.maps:
            self.index = len(self.maps) - 1
            self._show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Let the prompt keep its letters: layer keys act only when the prompt is not focused."""
        if action in ("step", "first", "last") and isinstance(self.focused, Input):
            return False
        return super().check_action(action, parameters)
