"""Streaming one URL into a partial file: resumable, paced, retried a bounded number of times,
checked against a SHA-256 (or its prefix) and only then handed over to be placed.

Shared by torchvision's weights (download.py) and the Hugging Face Hub's (hub_fetch.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import redact
from engine.models.weights.errors import DownloadCancelled, DownloadFailed
from engine.models.weights.guidance import ways_on

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, partial names become unique
    fcntl = None  # type: ignore[assignment]

Progress = Callable[[int, "int | None"], None]

CHUNK = 1 << 18
TIMEOUT_S = 60.0
MIN_RATE = 4096.0  # bytes per second, judged over RATE_WINDOW_S (PTM_DOWNLOAD_MIN_RATE)
RATE_WINDOW_S = 30.0  # (PTM_DOWNLOAD_STALL_S)
USER_AGENT = "ptm-tui (torch.hub compatible)"
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


class _Interrupted(Exception):
    """One attempt ended early (connection dropped, body shorter than announced)."""


class _Crawling(Exception):
    """The server sends too slowly to finish in any useful time; give up, keep the part."""


class _Rejected(Exception):
    """What arrived cannot be the file (too long, wrong hash); start over or give up."""


_CHECK_URL = "check the URL; " + ways_on()


def fetch_checked(
    source: str,
    work_name: Path,
    sha256_prefix: str | None,
    place: Callable[[Path], Any],
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    *,
    done: Callable[[], bool] = lambda: False,
    attempts: int = 3,
    timeout: float = TIMEOUT_S,
    headers: dict[str, str] | None = None,
    fix: str = "",
) -> None:
    """Download `source` under a lock beside `work_name`, check its SHA-256, then `place` it.

    The partial file is kept for resuming only when the network failed; a rejected or
    cancelled download leaves nothing. `done()` is asked once the lock is held (another
    process may have finished the same file meanwhile).
    """
    shown = redact(source)
    with _exclusive(work_name.with_name(work_name.name + ".lock"), cancel) as partial:
        if done():
            return
        try:
            _fetch_checked(
                source,
                partial,
                sha256_prefix,
                progress,
                cancel,
                max(1, attempts),
                timeout,
                headers or {},
                fix or _CHECK_URL,
            )
            place(partial)
            _discard(partial)
        except (DownloadCancelled, _Rejected) as error:
            _discard(partial)
            if isinstance(error, _Rejected):
                raise DownloadFailed(
                    f"download of {shown} was rejected",
                    str(error),
                    (fix or _CHECK_URL) + "; nothing was kept",
                ) from None
            raise
        except DownloadFailed:
            if not partial.exists() or partial.stat().st_size == 0:
                _discard(partial)
            raise
        except BaseException:
            _discard(partial)
            raise


def _fetch_checked(
    source: str,
    partial: Path,
    prefix: str | None,
    progress: Progress | None,
    cancel: threading.Event | None,
    attempts: int,
    timeout: float,
    headers: dict[str, str],
    fix: str,
) -> None:
    """Fetch into `partial` and check its hash; a resumed file that fails starts over once."""
    resumed = _fetch(source, partial, progress, cancel, attempts, timeout, headers, fix)
    try:
        _check_hash(partial, prefix)
    except _Rejected:
        if not resumed:
            raise
        _discard(partial)  # the kept part may have been stale
        _fetch(source, partial, progress, cancel, attempts, timeout, headers, fix)
        _check_hash(partial, prefix)


def _discard(partial: Path) -> None:
    """Remove a partial download and its validator."""
    for path in (partial, _validator_path(partial)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _validator_path(partial: Path) -> Path:
    """Return where the ETag / Last-Modified of a partial download is kept."""
    return partial.with_name(partial.name + ".validator")


def _validator(headers: Any) -> str | None:
    """Return a strong ETag or Last-Modified usable in If-Range, or None."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return str(etag)
    modified = headers.get("Last-Modified")
    return str(modified) if modified else None


@contextlib.contextmanager
def _exclusive(lock_path: Path, cancel: threading.Event | None) -> Iterator[Path]:
    """Hold an exclusive flock on `lock_path`; yield the partial file name to download into."""
    base = lock_path.with_suffix("")
    if fcntl is None:  # pragma: no cover
        yield base.with_name(f"{base.name}.{os.getpid()}.{threading.get_ident()}.partial")
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelled(f"download of {base.name} cancelled") from None
                time.sleep(0.05)
        yield base.with_name(f"{base.name}.partial")
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _fetch(
    source: str,
    partial: Path,
    progress: Progress | None,
    cancel: threading.Event | None,
    attempts: int,
    timeout: float,
    headers: dict[str, str],
    fix: str,
) -> bool:
    """Stream `source` into `partial`, resuming with Range requests; return True if resumed."""
    last_error = ""
    tried = 0
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(0.2 * 2 ** (attempt - 1), 2.0))
        tried += 1
        try:
            return _attempt(source, partial, progress, cancel, timeout, headers, fix)
        except _Interrupted as error:
            last_error = str(error)
            if isinstance(error.__cause__, _Unresolved):
                break  # a name that does not resolve will not resolve in a second either
        except _Crawling as error:
            last_error = str(error)
            break
    have = partial.stat().st_size if partial.exists() else 0
    times = f"tried {tried} time{'s' if tried > 1 else ''}"
    if not have:
        raise DownloadFailed(f"cannot download {redact(source)}", f"{last_error} ({times})", ways_on())
    raise DownloadFailed(
        f"download of {redact(source)} did not complete",
        f"{last_error} ({times}; {have} bytes kept for resuming)",
        "check the network and run the same command again: it resumes where it stopped; " + ways_on(),
    )


class _Unresolved(Exception):
    """The server's host name does not resolve (no DNS, air-gapped)."""


def _pace_limits() -> tuple[float, float]:
    """Return (minimum bytes per second, seconds measured) below which a download gives up."""
    rate = float(os.environ.get("PTM_DOWNLOAD_MIN_RATE", "") or MIN_RATE)
    window = float(os.environ.get("PTM_DOWNLOAD_STALL_S", "") or RATE_WINDOW_S)
    return rate, window


def _attempt(
    source: str,
    partial: Path,
    progress: Progress | None,
    cancel: threading.Event | None,
    timeout: float,
    extra: dict[str, str],
    fix: str,
) -> bool:
    """Make one request and append what arrives to `partial`; return True if it appended."""
    offset = partial.stat().st_size if partial.exists() else 0
    source, headers = with_credentials(source, {"User-Agent": USER_AGENT, **extra})
    validator = _validator_path(partial)
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator.exists():  # the server sends the whole file if it changed meanwhile
            headers["If-Range"] = validator.read_text().strip()
    try:
        response = urllib.request.urlopen(urllib.request.Request(source, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            _, total = _parse_content_range(error.headers.get("Content-Range", ""))
            if total == offset:  # the kept part is already the whole file
                if progress is not None:
                    progress(offset, total)
                return True
            _discard(partial)  # our partial file is not a prefix any more
            raise _Interrupted("the server refused to resume; starting over") from None
        if error.code >= 500 or error.code == 429:
            raise _Interrupted(f"the server answered HTTP {error.code} {error.reason}") from None
        raise DownloadFailed(
            f"cannot download {redact(source)}",
            f"the server answered HTTP {error.code} {error.reason}",
            fix,
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, socket.gaierror):
            host = urllib.parse.urlparse(source).hostname
            raise _Interrupted(
                f"the host {host} does not resolve ({reason.strerror or reason}): no network or no DNS here"
            ) from _Unresolved()
        raise _Interrupted(f"cannot reach the server ({reason})") from None
    with response:
        status = getattr(response, "status", None) or 200
        length = response.headers.get("Content-Length")
        length_n = int(length) if length and length.isdigit() else None
        if status == 206 and offset:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                _discard(partial)
                raise _Interrupted("the server resumed at the wrong offset; starting over")
            if total is None and length_n is not None:
                total = offset + length_n
            mode = "ab"
        else:  # 200: the whole file again, whether or not we asked for a range
            offset, total, mode = 0, length_n, "wb"
            seen = _validator(response.headers)
            if seen:
                atomic_write_text(validator, seen)
            else:
                with contextlib.suppress(FileNotFoundError):
                    validator.unlink()
        done = offset
        if progress is not None:
            progress(done, total)
        min_rate, window = _pace_limits()
        mark_time, mark_done = time.monotonic(), done
        with _writing(partial, mode) as handle:
            while True:
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelled(f"download of {redact(source)} cancelled")
                now = time.monotonic()
                if now - mark_time >= window:  # judge the pace over each window of time
                    rate = (done - mark_done) / (now - mark_time)
                    if rate < min_rate:
                        raise _Crawling(
                            f"the server sent {done - mark_done} bytes in the last "
                            f"{now - mark_time:.0f} s ({rate / 1024:.1f} KiB/s, below the minimum "
                            f"{min_rate / 1024:.1f} KiB/s set by PTM_DOWNLOAD_MIN_RATE)"
                        )
                    mark_time, mark_done = now, done
                try:
                    block = response.read1(CHUNK)  # whatever has arrived: progress as it comes
                except (OSError, http.client.HTTPException) as error:
                    raise _Interrupted(
                        f"the connection broke after {done} bytes ({type(error).__name__})"
                    ) from None
                if not block:
                    break
                handle.write(block)
                done += len(block)
                if total is not None and done > total:
                    raise _Rejected(f"the server sent more than the {total} bytes it announced")
                if progress is not None:
                    progress(done, total)
    if total is not None and done < total:
        raise _Interrupted(f"the body ended after {done} of {total} bytes")
    return mode == "ab"


@contextlib.contextmanager
def _writing(partial: Path, mode: str) -> Iterator[Any]:
    """Open `partial` for writing and fsync it on the way out; disk errors become DownloadFailed."""
    try:
        with open(partial, mode) as handle:
            try:
                yield handle
            finally:
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        if isinstance(error, (TimeoutError, ConnectionError)):
            raise
        raise DownloadFailed(
            f"cannot write {partial}",
            error.strerror or str(error),
            "free some disk space or set TORCH_HOME to a writable folder with room, then run "
            "again (the download resumes)",
        ) from None


def _parse_content_range(value: str) -> tuple[int | None, int | None]:
    """Return (first byte, total size or None) of a Content-Range header."""
    match = _CONTENT_RANGE.match(value.strip())
    if not match:
        return None, None
    first, total = match.groups()
    return (None if first is None else int(first)), (None if total == "*" else int(total))


def _check_hash(partial: Path, prefix: str | None) -> None:
    """Raise _Rejected when the file's SHA-256 does not start with `prefix`."""
    if not prefix:
        return
    with open(partial, "rb") as handle:
        got = hashlib.file_digest(handle, "sha256").hexdigest()
    if not got.startswith(prefix):
        promise = (
            f"the server's ETag says {prefix[:16]}..."
            if len(prefix) == 64
            else f"the file name promises {prefix}"
        )
        raise _Rejected(
            f"its SHA-256 is {got[:16]}..., but {promise}; "
            "the file was altered or the server sent another file"
        )


def with_credentials(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Return `url` without `user:pass@` and the headers with that login as HTTP Basic auth."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, headers
    login = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
    host = parts.netloc.rpartition("@")[2]
    plain = urllib.parse.urlunsplit(parts._replace(netloc=host))
    basic = base64.b64encode(login.encode()).decode()
    return plain, {**headers, "Authorization": f"Basic {basic}"}
