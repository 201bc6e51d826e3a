"""The base of screens that ask for an image path and work on it (predict, activation maps)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Input, Static
from textual.worker import Worker

from tui.screens.base import PtmScreen, error_text


class ImagePromptScreen(PtmScreen):
    """A screen with an image-path prompt: enter starts `start`; the last path is remembered."""

    PREFIX: ClassVar[str] = ""
    """The id prefix of the screen's widgets: `<PREFIX>-path` (the prompt), `<PREFIX>-status`."""
    FAILED: ClassVar[str] = "failed"
    """What failed, in words: the status line says it with the reason, where the result was."""
    last_image: ClassVar[str] = ""
    """The image path used last on this kind of screen (the next prompt starts with it)."""
    image: str

    def on_mount(self) -> None:
        """Focus the path prompt (and start at once when a path was given)."""
        self.query_one(f"#{self.PREFIX}-path", Input).focus()
        if self.image:
            self.start()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        """Enter starts the work on the image in the prompt."""
        self.start()

    def start(self) -> None:
        """Read the prompt and start the work (subclasses override)."""

    def prompted_path(self) -> str | None:
        """Return the path in the prompt and remember it; warn and return None when it is empty."""
        path = self.query_one(f"#{self.PREFIX}-path", Input).value.strip()
        if not path:
            self.notify("type the path of an image", severity="warning")
            return None
        type(self).last_image = path
        return path

    def set_status(self, text: str | Text) -> None:
        """Show `text` (markup, or a rich Text shown as it is) on the status line."""
        self.query_one(f"#{self.PREFIX}-status", Static).update(text)

    def clear_result(self) -> None:
        """Take the previous result off the screen (subclasses override)."""

    def worker_failed(self, worker: Worker) -> None:
        """Replace the previous result with what failed and why (it stays until the next try)."""
        self.clear_result()
        self.set_status(Text(f"{self.FAILED}: {error_text(worker.error)}", style="bold red"))

    def action_close(self) -> None:
        """Go back to the explorer."""
        self.app.pop_screen()
