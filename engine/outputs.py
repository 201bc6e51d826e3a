"""Where the project writes files: output paths checked before the work, OSErrors turned into messages."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from engine.errors import BadInput, PtmError, WorkFailed

_USER_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                errno.ENOENT, errno.ENAMETOOLONG)


def _existing_parent(path: Path) -> Path:
    """Return the nearest folder above `path` that exists (or raise BadInput when a file is in the way)."""
    for parent in path.absolute().parents:
        if parent.is_dir():
            return parent
        if parent.exists():
            raise BadInput(f"cannot write {path}", f"{parent} is a file, not a folder",
                           "choose an output path whose folders are folders")
    return Path("/")


def check_output_file(path: str | os.PathLike[str], option: str = "--out",
                      suffixes: tuple[str, ...] | None = None) -> Path:
    """Return `path` as a Path after checking a file can be written there; raise BadInput if not."""
    target = Path(path).expanduser()
    check_name_length(target, option)
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise BadInput(f"cannot write {option} {target.name!r}",
                       f"unknown file type {target.suffix.lower() or '(none)'!r}",
                       f"end {option} with {', '.join(suffixes[:-1])} or {suffixes[-1]}"
                       if len(suffixes) > 1 else f"end {option} with {suffixes[0]}")
    if target.is_dir():
        raise BadInput(f"cannot write {option} {target}", "it is a folder, not a file",
                       f"give a file name inside it, e.g. {target / 'out'}{(suffixes or ('',))[0]}")
    folder = _existing_parent(target)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write {option} {target}", f"the folder {folder} is not writable",
                       "choose a folder you can write to")
    return target


TEMP_ROOM = 20
"""Bytes a file name needs beyond its own for the temporary name it is written under."""


def check_name_length(target: Path, option: str = "--out") -> None:
    """Raise BadInput when a name in `target` is too long for its file system (with the room
    its temporary name needs) or the whole path is; checked before any work is done."""
    folder = _existing_parent(target)
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in target.absolute().parts:
        size = len(os.fsencode(part))
        if size + (TEMP_ROOM if part == target.name else 0) > name_max:
            raise BadInput(f"cannot write {option} {part[:40]}...: the name is too long",
                           f"it is {size} bytes; the file system takes names of at most "
                           f"{name_max} bytes" + (f", and writing it safely needs {TEMP_ROOM} "
                                                  "more for a temporary name"
                                                  if part == target.name else ""),
                           f"choose a name shorter than {name_max - TEMP_ROOM} bytes")
    if len(os.fsencode(str(target.absolute()))) + TEMP_ROOM > path_max:
        raise BadInput(f"cannot write {option} {str(target)[:40]}...: the path is too long",
                       f"the file system takes paths of at most {path_max} bytes",
                       "choose a shorter path")


def check_output_dir(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Return `path` as a Path after checking files can be written into it; raise BadInput if not."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"cannot write into {option} {folder}", "it is a file, not a folder",
                       "pass a folder path (it is created when missing)")
    existing = folder if folder.is_dir() else _existing_parent(folder)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write into {option} {folder}", f"the folder {existing} is not writable",
                       "choose a folder you can write to")
    return folder


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an OSError while writing `path` into a PtmError saying what, why and how to fix it."""
    try:
        yield
    except PtmError:
        raise
    except OSError as error:
        why = error.strerror or str(error)
        if error.errno in _USER_ERRNOS:
            raise BadInput(f"cannot write {path}", why,
                           "choose an output path in a folder you can write to") from None
        raise WorkFailed(f"could not write {path}", why,
                         "free some disk space or choose another folder, then run it again") from None
