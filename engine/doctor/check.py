"""One line of the doctor's report: what was looked at, what was found, and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["ok", "info", "warn", "fail"]
"""ok: fine; info: optional and absent, or not checked (says why); warn: works, but less than
it could; fail: something ptm-tui needs will not work until it is fixed."""


@dataclass(frozen=True)
class Check:
    """One finding: `section` and `name` say what, `value` what was found, `fix` what to do."""

    section: str
    name: str
    state: State
    value: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    """The raw numbers behind `value` (bytes, versions, paths), for --json."""


def size_text(size: int) -> str:
    """Return a byte count as people read it: 1.4 GiB, 12.0 MiB, 512 B."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
