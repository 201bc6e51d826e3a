"""Downloading weights into the cache: streamed, size- and hash-checked, resumable, locked."""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path

from engine.atomic import atomic_write
from engine.errors import BadInput, redact
from engine.models.weights.cache import (
    MIRROR_ENV,
    cache_dir,
    file_name,
    hash_prefix,
    is_download_url,
    mirror_url,
    work_dir,
)
from engine.models.weights.errors import DownloadFailed
from engine.models.weights.fetch import TIMEOUT_S, Progress, fetch_checked
from engine.models.weights.guidance import ways_on


def download(
    url: str,
    progress: Progress | None = None,
    check_hash: bool = True,
    cancel: threading.Event | None = None,
    *,
    attempts: int = 3,
    timeout: float = TIMEOUT_S,
    folder: Path | None = None,
) -> Path:
    """Return the cached path of `url` (in `folder` if given), downloading it first if missing."""
    if url.startswith("hf://"):  # timm's weights: the Hugging Face way, into its cache
        from engine.models.weights.hf import hub_file

        path = hub_file(url.removeprefix("hf://"), progress=progress, cancel=cancel)
        _report_cached(path, progress)
        return path
    if not is_download_url(url):
        raise BadInput(f"cannot download {url}", "only http:// and https:// URLs are downloaded",
                       "open a local file in place with --weights PATH instead of copying it")
    name = file_name(url)
    home = cache_dir() if folder is None else Path(folder).expanduser()
    work = work_dir() if folder is None else home / ".ptm-partial"  # same disk: atomic rename
    target = home / name
    if target.is_file():
        _report_cached(target, progress)
        return target
    source = mirror_url(url)
    prefix = hash_prefix(name) if check_hash else None
    try:
        work.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fix = ("set TORCH_HOME to a folder you can write to" if folder is None
               else "give a folder you can write to")
        raise DownloadFailed(f"cannot create the weights folder {home}",
                             error.strerror or str(error), fix) from None
    fetch_checked(source, work / name, prefix, lambda partial: _move_into_place(partial, target),
                  progress, cancel, done=target.is_file, attempts=attempts, timeout=timeout,
                  fix=_fix_for(source))
    return target


def _report_cached(path: Path, progress: Progress | None) -> None:
    """Tell the progress callback that a cached file is complete."""
    if progress is not None:
        size = path.stat().st_size
        progress(size, size)


def _move_into_place(partial: Path, target: Path) -> None:
    """Move the finished partial file to its cache name atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(partial, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        with open(partial, "rb") as source, atomic_write(target) as handle:
            shutil.copyfileobj(source, handle, 1 << 20)
        partial.unlink()


def _fix_for(source: str) -> str:
    """Return the fix line for a download from `source` that failed or was rejected."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror and source.startswith(mirror):
        return redact(f"check the mirror set in {MIRROR_ENV}={mirror} (it serves {source}) "
                      "or unset it")
    return "check the URL; " + ways_on()
