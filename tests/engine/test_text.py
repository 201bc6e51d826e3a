"""Text from files reaches a terminal without its control sequences (issue 18)."""

from __future__ import annotations

import pytest

from engine.text import printable


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("seven\x1b[2J", "seven"),  # clears the screen
        ("a\x1b[38;5;196mred\x1b[0m", "ared"),  # colours
        ("t\x1b]0;new title\x07x", "tx"),  # sets the window title (OSC ended by BEL)
        ("l\x1b]8;;http://evil\x1b\\ink", "link"),  # a hyperlink (OSC ended by ST)
        ("c\x1bPq#0;2;0;0;0\x1b\\d", "cd"),  # DCS (sixel) string
        ("8-bit\x9b2J csi", "8-bit2J csi"),  # C1 control characters
        ("bell\x07 back\x08space\x00nul", "bell backspacenul"),
        ("right\u202eto left", "rightto left"),  # bidi override
        ("two\nlines", "two lines"),
        ("chat 猫 café\ttab", "chat 猫 café\ttab"),  # printable text is kept as it is
    ],
)
def test_printable_strips_escapes_and_controls(raw, shown):
    assert printable(raw) == shown


def test_printable_keeps_newlines_when_asked():
    assert printable("line one\x1b[2J\nline two", newlines=True) == "line one\nline two"
