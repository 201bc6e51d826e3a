"""Errors that tell the user what went wrong, why, and how to fix it."""

from __future__ import annotations


class PtmError(Exception):
    """Base error: `what` happened, `why`, and how to `fix` it; `exit_code` for the CLI."""

    exit_code = 1

    def __init__(self, what: str, why: str = "", fix: str = "") -> None:
        self.what = what
        self.why = why
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The full message on one or a few lines."""
        parts = [self.what.rstrip(".")]
        if self.why:
            parts.append(self.why.rstrip("."))
        text = ": ".join(parts)
        if not text.endswith(("?", "!")):
            text += "."
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class BadInput(PtmError):
    """The user asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2


class WorkFailed(PtmError):
    """The request was fine but the work failed (exit code 1)."""

    exit_code = 1
