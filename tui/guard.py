"""No exception ends the app: a failed handler, action, callback or render becomes a toast and a
log entry (the traceback goes to $PTM_HOME/tui.log), and the screen keeps working."""

from __future__ import annotations

import contextlib
import re
import time
import traceback
from pathlib import Path
from typing import Any

from textual.message import Message

LOG_NAME = "tui.log"
LOG_MAX_BYTES = 1 << 20
"""The log is started again past this size (it holds tracebacks for a bug report, not history)."""
REPEAT_S = 5.0
"""The same error again within this many seconds (a render failing every frame) is not repeated."""


def error_text(error: BaseException | None) -> str:
    """Return what the user should read about a failed worker: what, why and fix when known."""
    if error is None:
        return "something failed"
    message = getattr(error, "message", None)
    if isinstance(message, str):
        return message
    return f"{type(error).__name__}: {error}"


def log_path() -> Path:
    """Return the file the TUI's tracebacks are appended to."""
    from engine.home import ptm_home

    return ptm_home() / LOG_NAME


def write_log(error: BaseException, where: str) -> Path | None:
    """Append the traceback of `error` to the log; return its path (None when it cannot be written)."""
    path = log_path()
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > LOG_MAX_BYTES:
            path.unlink()
        with path.open("a", encoding="utf-8") as handle:  # an append-only log, not a result file
            handle.write(f"--- {stamp} {where}\n{text}\n")
    except OSError:
        return None
    return path


class ErrorReporter:
    """Turns exceptions into one toast each (repeats within REPEAT_S are only counted)."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        """Every error reported, oldest first."""
        self._last: dict[str, float] = {}

    def report(self, app: Any, error: BaseException, where: str) -> None:
        """Log `error` and tell the user what failed, where the details are, and that work is kept."""
        self.errors.append(error)
        key = f"{type(error).__name__}: {error}"
        now = time.monotonic()
        if now - self._last.get(key, -REPEAT_S) < REPEAT_S:
            self._last[key] = now
            return
        self._last[key] = now
        path = write_log(error, where)
        details = f"details in {path}" if path else "the log could not be written"
        with contextlib.suppress(Exception):  # reporting must never fail in turn
            app.notify(
                f"{error_text(error)}\n{details}; your edits are kept",
                title=f"{where} failed",
                severity="error",
                timeout=15,
            )


def where_of(message: Message) -> str:
    """Return what was being handled, in words: the key pressed, else the message's name."""
    key = getattr(message, "key", None)
    if isinstance(key, str):
        return f"the {key} key"
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", type(message).__name__)  # FiguresRead: figures read
    return name.lower().replace("_", " ")


class GuardedDispatch:
    """Mixed into the app and every screen: a message whose handler raises is reported, and the
    message loop goes on (Textual would end the app)."""

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except Exception as error:
            app = self.app  # type: ignore[attr-defined]
            reporter = getattr(app, "error_reporter", None)
            if reporter is None:
                raise
            reporter.report(app, error, where_of(message))


class SafeRender:
    """Mixed into a widget (before the Textual class): a render that raises draws what failed in
    the widget's place and is reported once, instead of stopping every frame of the screen."""

    def _render(self) -> Any:
        try:
            return super()._render()  # type: ignore[misc]
        except Exception as error:
            from rich.text import Text
            from textual.visual import visualize

            app = self.app  # type: ignore[attr-defined]
            reporter = getattr(app, "error_reporter", None)
            if reporter is not None:
                reporter.report(app, error, f"drawing {type(self).__name__}")
            text = Text(f"could not draw this: {error_text(error)}", style="red")
            return visualize(self, text, markup=False)  # type: ignore[arg-type]
