"""Shared output for the CLI: JSON lines on stdout, Rich tables and progress bars on stderr."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

stderr = Console(stderr=True)
stdout = Console()


def _strict(obj: Any) -> Any:
    """Return `obj` with NaN and infinities as null (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _strict(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(value) for value in obj]
    return obj


def shown(text: object) -> str:
    """Return text from a file ready for Rich: control sequences stripped, markup escaped."""
    from rich.markup import escape

    from engine.text import printable

    return escape(printable(text))


def print_json(obj: Any) -> None:
    """Print one object as a single line of strict JSON on stdout (NaN/Inf become null)."""
    sys.stdout.write(json.dumps(_strict(obj), default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(
    description: str, total: float | None = None
) -> Iterator[Callable[[float, float | None], None]]:
    """Yield a callback `update(done, total)` that drives a Rich progress bar on stderr."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(description, total=total)

        def update(done: float, new_total: float | None = None) -> None:
            progress.update(task, completed=done, total=new_total if new_total else total)

        yield update
