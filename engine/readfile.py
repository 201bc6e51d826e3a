"""Bounded reads of files that data put there: checked by type before opening, by size, by depth.

A FIFO, a device or a socket is refused before it is opened, so no read can block; sizes are
capped, text must be UTF-8, and JSON nests at most MAX_DEPTH levels (no RecursionError later).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_DEPTH = 32
"""How deep JSON read from a file may nest (status.json and metrics records nest 3 levels)."""


class Unreadable(ValueError):
    """A file (or line) that is not read, with why in words: a FIFO, too big, not UTF-8..."""


def kind_of(mode: int) -> str:
    """Return what a file of this st_mode is, in words (a folder, a named pipe, a device...)."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """Return the stat of `path` when it is a regular file; raise Unreadable when it is not.

    FileNotFoundError (and other OSError) pass through: a missing file is the caller's case.
    """
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable(f"{path} is {kind_of(info.st_mode)}, not a file")
    return info


def read_bytes(path: str | os.PathLike[str], limit: int, tail: bool = False) -> bytes:
    """Return the bytes of the regular file `path`, at most `limit` of them.

    A longer file raises Unreadable, or with `tail` gives its last `limit` bytes. The type is
    checked before opening and again on the open file (O_NONBLOCK: a FIFO swapped in between
    cannot block the open).
    """
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{path} is {kind_of(info.st_mode)}, not a file")
        if info.st_size > limit:
            if not tail:
                raise Unreadable(
                    f"{path} is {info.st_size:,} bytes, more than the {limit:,} this file may hold"
                )
            os.lseek(fd, info.st_size - limit, os.SEEK_SET)
        chunks, left = [], limit + (0 if tail else 1)
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise Unreadable(f"{path} grew past the {limit:,} bytes this file may hold")
    return data


def decode(data: bytes, where: str) -> str:
    """Return `data` as UTF-8 text; raise Unreadable naming `where` when it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Unreadable(
            f"{where} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        ) from None


def depth(value: Any) -> int:
    """Return how deeply `value` (parsed JSON) nests lists and objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """Return the JSON value in `text`; raise Unreadable when it is not JSON or nests too deep."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise Unreadable(f"{where} nests more than {max_depth} levels deep") from None
    except ValueError as error:
        raise Unreadable(f"{where} is not valid JSON ({str(error).splitlines()[0][:80]})") from None
    if depth(value) > max_depth:
        raise Unreadable(f"{where} nests more than {max_depth} levels deep")
    return value


def read_json(path: str | os.PathLike[str], limit: int = 1 << 20) -> Any:
    """Return the JSON value in the file `path` (bounded by `limit` bytes and MAX_DEPTH)."""
    return parse_json(decode(read_bytes(path, limit), str(path)), str(path))


@dataclass
class JsonLines:
    """The JSON objects of a JSON Lines file, and how many lines were skipped and why."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    why: str = ""
    """The first skipped line's reason (empty when none was)."""

    def skip(self, why: str) -> None:
        """Count one skipped line, keeping the first reason."""
        self.skipped += 1
        self.why = self.why or why


def read_json_lines(path: str | os.PathLike[str], limit: int = 64 << 20) -> JsonLines:
    """Return the objects of the JSON Lines file `path`: its last `limit` bytes, line by line.

    A line that is not UTF-8, not JSON, too deep or not an object is skipped and counted; a
    half-written last line (no newline yet) is left out without counting.
    """
    data = read_bytes(path, limit, tail=True)
    out = JsonLines()
    lines = data.split(b"\n")
    if lines and lines[-1]:
        lines.pop()  # still being written
    if len(data) == limit and os.stat(path).st_size > limit and lines:
        lines.pop(0)  # cut by the tail read
        out.skip(f"{path} is longer than {limit:,} bytes: only its end was read")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{Path(path).name} line {number}"
        try:
            record = parse_json(decode(line, where), where)
        except Unreadable as error:
            out.skip(str(error))
            continue
        if isinstance(record, dict):
            out.records.append(record)
        else:
            out.skip(f"{where} is not a JSON object")
    return out
