"""The base of screens that ask for an image path and work on it (predict, activation maps)."""

from __future__ import annotations

from typing import ClassVar

from textual.widgets import Input, Static
from textual.worker import Worker

from tui.screens.base import PtmScreen


class ImagePromptScreen(PtmScreen):
    """A screen with an image-path prompt: enter starts `start`; the last path is remembered."""

    PREFIX: ClassVar[str] = ""
    """The id prefix of the screen's widgets: `<PREFIX>-path` (the prompt), `<PREFIX>-status`."""
    FAILED: ClassVar[str] = "failed: see the message"
    """The status line after the worker failed (the notification has the details)."""
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

    def set_status(self, text: str) -> None:
        """Show `text` (markup) on the status line."""
        self.query_one(f"#{self.PREFIX}-status", Static).update(text)

    def worker_failed(self, worker: Worker) -> None:
        """Say on the status line that the work failed."""
        self.set_status(self.FAILED)

    def action_close(self) -> None:
        """Go back to the explorer."""
        self.app.pop_screen()
