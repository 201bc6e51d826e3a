"""`ptm-tui download` as a real process against a real local HTTP server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("torch_home")


def ptm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `ptm-tui ARGS` in a fresh process with the test's environment."""
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ))


def named(data: bytes, stem: str = "net") -> str:
    """Return a torch.hub style name carrying the real SHA-256 prefix of `data`."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def test_download_url_prints_path_then_finds_it_cached(http_server, torch_home: Path) -> None:
    data = os.urandom(200_000)
    name = named(data)
    url = http_server.serve(f"models/{name}", data)

    first = ptm("download", url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(torch_home / name)
    assert (torch_home / name).read_bytes() == data
    assert "downloaded 0.2 MB" in first.stderr

    again = ptm("download", url, "--json")
    assert again.returncode == 0, again.stderr
    info = json.loads(again.stdout)
    assert info["path"] == str(torch_home / name)
    assert info["url"] == url and info["bytes"] == len(data)
    assert info["sha256_prefix"] == name[4:12] and info["sha256_prefix_ok"] is True
    assert info["cached_before"] is True
    assert len(http_server.requests_for(f"models/{name}")) == 1


def test_download_wrong_hash_exits_1_and_caches_nothing(http_server, torch_home: Path) -> None:
    url = http_server.serve("models/net-0badc0de.pth", os.urandom(50_000))
    result = ptm("download", url)
    assert result.returncode == 1
    assert "rejected" in result.stderr and "0badc0de" in result.stderr
    assert "Traceback" not in result.stderr
    assert not torch_home.exists() or os.listdir(torch_home) == []


def test_download_model_name_goes_to_the_mirror(http_server, torch_home: Path,
                                                monkeypatch) -> None:
    # The mirror serves a file under resnet18's real name but with other bytes: the model
    # name must resolve to that file name, fetch it from the mirror, and refuse it.
    http_server.serve("tv/resnet18-f37072fd.pth", os.urandom(30_000))
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("tv/"))
    result = ptm("download", "resnet18.IMAGENET1K_V1")
    assert result.returncode == 1, result.stderr
    assert "PTM_WEIGHTS_MIRROR" in result.stderr
    assert [r.path for r in http_server.requests] == ["/tv/resnet18-f37072fd.pth"]
    assert not (torch_home / "resnet18-f37072fd.pth").exists()


def test_download_cached_file_with_wrong_hash_is_reported(torch_home: Path) -> None:
    torch_home.mkdir(parents=True)
    (torch_home / "resnet18-f37072fd.pth").write_bytes(b"not the weights")
    result = ptm("download", "resnet18", "--json")
    assert result.returncode == 1
    assert "damaged" in result.stderr and "rm " in result.stderr


def test_download_unknown_model_suggests_names() -> None:
    result = ptm("download", "resnet5O")
    assert result.returncode == 2
    assert "did you mean" in result.stderr and "resnet50" in result.stderr


def test_download_other_url_schemes_are_refused_with_exit_2() -> None:
    result = ptm("download", "ftp://host/net-12345678.pth")
    assert result.returncode == 2
    assert "only http(s)://" in result.stderr and "Traceback" not in result.stderr


def test_a_mirror_that_is_not_a_url_is_bad_input_not_a_traceback(monkeypatch) -> None:
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", "not-a-url")
    result = ptm("download", "resnet18")
    assert result.returncode == 2
    assert "PTM_WEIGHTS_MIRROR='not-a-url' is not a URL" in result.stderr
    assert "Traceback" not in result.stderr
