"""The folders ptm-tui writes to: the weights caches and $PTM_HOME: where, how big, free disk, writable."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from engine.doctor.check import Check, size_text

LOW_DISK = 2 << 30
"""Less free disk than this (2 GiB) cannot take a big model's weights or a job's checkpoints."""
MAX_ENTRIES = 200_000
"""A size walk looks at no more entries than this (the size then reads "at least")."""


def folder_size(root: Path, limit: int = MAX_ENTRIES) -> tuple[int, bool]:
    """Return the bytes of the regular files under `root` (links not followed), and whether all counted."""
    total, seen, stack = 0, 0, [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > limit:
                return total, False
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total, True


def nearest_existing(path: Path) -> Path:
    """Return `path` or its nearest parent that exists."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def write_problem(path: Path) -> str | None:
    """Return why ptm-tui could not write in folder `path` (made when missing), or None when it can."""
    base = nearest_existing(path)
    if not base.is_dir():
        return f"{base} is a file, not a folder"
    if base != path.absolute():
        return (
            None
            if os.access(base, os.W_OK | os.X_OK)
            else f"{base} is not writable (so {path} cannot be made)"
        )
    try:
        handle, name = tempfile.mkstemp(prefix=".ptm-doctor-", dir=path)
    except OSError as error:
        return f"cannot write in it ({error.strerror or error})"
    os.close(handle)
    os.unlink(name)
    return None


def folder_check(name: str, path: Path, role: str, env_fix: str) -> Check:
    """Return the line of one folder: its size, the free disk under it, and whether it can be written."""
    problem = write_problem(path)
    details: dict[str, object] = {"path": str(path), "exists": path.is_dir()}
    if problem is not None:
        return Check(
            "folders",
            name,
            "fail",
            f"{path}: {problem}; {role} cannot be written",
            env_fix,
            details | {"writable": False},
        )
    if path.is_dir():
        size, complete = folder_size(path)
        shown = f"{size_text(size)}" if complete else f"at least {size_text(size)}"
        details |= {"size": size, "size_complete": complete}
    else:
        shown = "not made yet"
    free = shutil.disk_usage(nearest_existing(path)).free
    details |= {"free_disk": free, "writable": True}
    value = f"{path} ({shown}; {size_text(free)} free on its disk)"
    if free < LOW_DISK:
        return Check("folders", name, "warn", value, f"free some disk, or {env_fix}", details)
    return Check("folders", name, "ok", value, details=details)


def folder_checks() -> list[Check]:
    """Return the lines of torch.hub's weights cache, the Hugging Face cache and $PTM_HOME."""
    from engine.home import ptm_home
    from engine.models.weights.cache import cache_dir
    from engine.models.weights.hf import hub_cache

    return [
        folder_check(
            "torch.hub cache",
            cache_dir(),
            "downloaded torchvision weights",
            "point TORCH_HOME at a writable folder on a disk with room",
        ),
        folder_check(
            "Hugging Face cache",
            hub_cache(),
            "downloaded timm weights",
            "point HF_HOME (or HF_HUB_CACHE) at a writable folder on a disk with room",
        ),
        folder_check(
            "PTM_HOME",
            ptm_home(),
            "jobs, autosaved recipes and the TUI's log",
            "export PTM_HOME=/a/writable/folder (on a disk with room for checkpoints)",
        ),
    ]
