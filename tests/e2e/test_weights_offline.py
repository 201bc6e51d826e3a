"""When weights cannot be had (issue 10, section 1): fail fast, give up on a crawl, say the ways on."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

pytestmark = pytest.mark.usefixtures("torch_home")



def assert_ways_on(stderr: str) -> None:
    """Assert the message names every way on, and is not a traceback."""
    for way in ("PTM_WEIGHTS_MIRROR", "ptm-tui import", "--weights FILE|FOLDER"):
        assert way in stderr, (way, stderr)
    assert "Traceback" not in stderr


@pytest.mark.parametrize("command", [["download", "squeezenet1_0"],
                                     ["inspect", "squeezenet1_0", "--weights", "default"]])
def test_a_host_that_does_not_resolve_fails_fast_with_the_ways_on(command: list[str]) -> None:
    started = time.monotonic()
    result = ptm(*command, env={"PTM_WEIGHTS_MIRROR": "http://weights.invalid/models/"})
    assert result.returncode == 1, result.stderr
    assert "does not resolve" in result.stderr and "tried 1 time" in result.stderr
    assert_ways_on(result.stderr)
    assert time.monotonic() - started < 30


def test_a_missing_file_names_the_ways_on(http_server) -> None:
    result = ptm("download", http_server.url("models/net-12345678.pth"))
    assert result.returncode == 1 and "HTTP 404" in result.stderr
    assert_ways_on(result.stderr)


def test_a_crawling_download_gives_up_and_keeps_the_part(http_server, torch_home: Path) -> None:
    data = os.urandom(400_000)
    name = f"net-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    url = http_server.serve(f"m/{name}", data, chunk_delay=0.5)  # 16 KiB per 0.5 s: 32 KiB/s
    started = time.monotonic()
    result = ptm("download", url, env={"PTM_DOWNLOAD_MIN_RATE": "100000",
                                       "PTM_DOWNLOAD_STALL_S": "1.5"})
    assert result.returncode == 1, result.stderr
    assert "below the minimum" in result.stderr and "kept for resuming" in result.stderr
    assert time.monotonic() - started < 20
    assert len(http_server.requests_for(f"m/{name}")) == 1  # no retry loop on a crawl
    assert not (torch_home / name).exists()

    http_server.files[f"/m/{name}"].chunk_delay = 0.0  # the next run resumes and finishes
    again = ptm("download", url)
    assert again.returncode == 0, again.stderr
    assert (torch_home / name).read_bytes() == data
    assert http_server.requests_for(f"m/{name}")[-1].range is not None


def test_progress_is_reported_as_bytes_arrive(http_server) -> None:
    from engine.models.weights import download

    data = os.urandom(200_000)  # less than one 256 KiB read: progress must not wait for it
    name = f"net-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    url = http_server.serve(f"m/{name}", data, chunk_delay=0.05)
    seen: list[int] = []
    download(url, progress=lambda done, total: seen.append(done))
    moving = sorted(set(seen))
    assert moving[-1] == len(data)
    assert len([n for n in moving if 0 < n < len(data)]) >= 5, moving
