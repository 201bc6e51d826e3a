"""Errors that tell the user what went wrong, why, and how to fix it."""

from __future__ import annotations

import re


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
        return redact(text)  # a password in a URL never reaches a terminal


class BadInput(PtmError):
    """The user asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2


class WorkFailed(PtmError):
    """The request was fine but the work failed (exit code 1)."""

    exit_code = 1


# scheme://user:password@ — the password runs to the last @ before the path (it may hold an @).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^/\s]*@")
# scheme://token@ (no colon): a bare token is a secret too.
_TOKEN_ONLY = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+@")


def redact(text: object) -> str:
    """Return `text` with every password (or bare token) in a URL's user part replaced by ***."""
    masked = _USERINFO.sub(r"\g<head>:***@", str(text))
    return _TOKEN_ONLY.sub(r"\g<head>***@", masked)
