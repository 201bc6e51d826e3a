"""Checks on what a weights path is and on the tensors a file holds, before anything uses them."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import BadInput

_FIX = "re-save the weights with torch.save(model.state_dict(), path) from a working model"


def what_it_is(path: str | os.PathLike[str]) -> str:
    """Return why `path` is not a weights file in words: a folder, a FIFO, a link loop, missing..."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "it is a symbolic link loop (the link points back to itself)"
        if error.errno == errno.EACCES:
            return "permission denied"
        if os.path.islink(path):
            return "it is a symbolic link to a file that does not exist"
        if error.errno == errno.ENOENT:
            return "there is no such file"
        return error.strerror or str(error)
    if stat.S_ISDIR(mode):
        return "it is a folder"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device file, not a weights file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a file"
    return "it is not a regular file"


def is_weights_file(path: Path) -> bool:
    """Return True when `path` is a regular file (not a FIFO, device or link loop)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def check_tensors(state_dict: Mapping[str, Any], source: str) -> None:
    """Raise BadInput naming the first tensor no model can take (sparse, meta, expanded) or bad _metadata."""
    import torch

    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            continue
        why = _unusable(value)
        if why:
            raise BadInput(f"cannot use {source}", f"tensor {key!r} {why}", _FIX)
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None and not _metadata_ok(metadata):
        raise BadInput(
            f"cannot use {source}: its '_metadata' attribute is a {type(metadata).__name__}",
            "torch expects a mapping of module names to version dicts there; the file was "
            "altered or not written by torch.save(model.state_dict())",
            _FIX,
        )


def _unusable(tensor: Any) -> str:
    """Return why a tensor cannot be a parameter or buffer, or "" when it can."""
    import torch

    if tensor.is_meta:
        return "is on the meta device: it has a shape but no data"
    if tensor.layout != torch.strided:
        return f"is {str(tensor.layout).removeprefix('torch.')} (sparse), not a dense tensor"
    if tensor.is_quantized:
        return ""
    if any(s == 0 and n > 1 for s, n in zip(tensor.stride(), tensor.shape, strict=True)):
        return ("is expanded (a stride of 0: its elements share one memory cell, so it cannot "
                "be trained or initialised in place)")
    return ""


def _metadata_ok(metadata: Any) -> bool:
    """Return whether `_metadata` has the shape torch's loader expects: str -> dict."""
    return isinstance(metadata, Mapping) and all(
        isinstance(k, str) and isinstance(v, Mapping) for k, v in metadata.items())


def check_dtypes(expected: Mapping[str, Any], state_dict: Mapping[str, Any], source: str) -> None:
    """Raise BadInput when a floating-point parameter or buffer would get integer or bool data."""
    import torch

    for key, tensor in expected.items():
        given = state_dict.get(key)
        if not (isinstance(tensor, torch.Tensor) and isinstance(given, torch.Tensor)):
            continue
        if (tensor.is_floating_point() or tensor.is_complex()) and not (
                given.is_floating_point() or given.is_complex() or given.is_quantized):
            raise BadInput(
                f"cannot use {source}",
                f"tensor {key!r} holds {str(given.dtype).removeprefix('torch.')} values where the "
                f"model has {str(tensor.dtype).removeprefix('torch.')} (integer and bool tensors "
                "cannot be trained or initialised)",
                _FIX,
            )


_TEMP_ROOM = 24
"""Characters an atomic write adds to a name for its temporary file (.NAME.XXXXXXXX.tmp)."""


def check_output_file(path: Path, flag: str) -> Path:
    """Return `path` when a file can be written there (before any work); BadInput saying why not."""
    path = path.expanduser()
    fix = f"give {flag} a file name in a folder you can write to, e.g. {flag} weights.tar"
    _check_names(path, fix, room=_TEMP_ROOM)
    if path.is_dir():
        raise BadInput(f"cannot write {path}", "it is a folder", fix)
    if os.path.lexists(path) and not path.is_file():
        raise BadInput(f"cannot write {path}", what_it_is(path), fix)
    if not path.parent.is_dir():
        raise BadInput(f"cannot write {path}", f"the folder {path.parent} "
                       + ("does not exist" if not os.path.lexists(path.parent) else "is not a folder"), fix)
    _probe(path.parent, path, fix)
    return path


def check_output_folder(path: Path, flag: str) -> Path:
    """Return `path` when files can be written into it (made if missing); BadInput saying why not."""
    path = path.expanduser()
    fix = f"give {flag} a folder you can write to"
    _check_names(path, fix, room=_TEMP_ROOM + 16)
    if os.path.lexists(path) and not path.is_dir():
        why = "it is a file" if path.is_file() else what_it_is(path)
        raise BadInput(f"cannot write into {path}", f"{why}, not a folder", fix)
    existing = path
    while not existing.is_dir():
        if os.path.lexists(existing) or existing == existing.parent:
            raise BadInput(f"cannot write into {path}", f"{existing} is not a folder", fix)
        existing = existing.parent
    _probe(existing, path, fix)
    return path


def _check_names(path: Path, fix: str, room: int) -> None:
    """Refuse a path with a part longer than the file system allows (room kept for temp names)."""
    limit = 255 - room
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise BadInput(f"cannot write {str(path)[:60]}...", f"the name {part[:24]}... has "
                           f"{len(os.fsencode(part))} bytes; at most {limit} fit", fix)


def _probe(folder: Path, path: Path, fix: str) -> None:
    """Refuse a folder in which a file cannot be made (read-only, /proc, no permission)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise BadInput(f"cannot write {path}", f"{folder}: {error.strerror or error}", fix) from None
