"""Text from files (class names, job ids, messages) made safe to show on a terminal."""

from __future__ import annotations

import re

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, ESC[2J clears the screen
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks, clipboard writes
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # the other escapes (and a lone ESC)
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"  # other controls
)


def printable(text: object, newlines: bool = False) -> str:
    """Return `text` as a string with terminal escape sequences and control characters removed.

    Tabs stay; newlines stay only when `newlines` is True (messages of several lines).
    """
    cleaned = _ESCAPES.sub("", str(text))
    return cleaned if newlines else cleaned.replace("\n", " ")
