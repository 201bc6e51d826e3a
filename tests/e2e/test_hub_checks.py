"""Hub downloads are checked, bounded and honest (issue 18): against a local Hub that misbehaves."""

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

try:
    from tests.helpers.hub_server import COMMIT, HubServer, Quirks
except ImportError:  # tests/ itself is on sys.path
    from helpers.hub_server import COMMIT, HubServer, Quirks

ROOT = Path(__file__).resolve().parents[2]
REPO = "org/tiny"
DATA = os.urandom(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
TIMM_REPO = "timm/test_resnet.r160_in1k"



@pytest.fixture
def hub(tmp_path: Path, monkeypatch):
    """A local Hub serving REPO's model.safetensors; HF_ENDPOINT and HF_HUB_CACHE point at it."""
    server = HubServer().start()
    server.serve(REPO, "model.safetensors", DATA)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PTM_DOWNLOAD_STALL_S", "30")
    for name in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HOME", "PTM_WEIGHTS_PATH", "PTM_WEIGHTS_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield server
    finally:
        server.stop()


def cached_files(tmp_path: Path) -> list[str]:
    """Return the blobs and snapshot files in the Hugging Face cache."""
    cache = tmp_path / "hf"
    return sorted(
        str(p.relative_to(cache)) for p in cache.rglob("*") if "blobs" in p.parts or "snapshots" in p.parts
    )


def test_a_good_file_lands_in_the_layout_huggingface_hub_reads(hub, tmp_path: Path) -> None:
    from huggingface_hub import try_to_load_from_cache

    from engine.models.weights.hf import hub_file

    hub.quirks[(REPO, "model.safetensors")] = Quirks(linked=True)  # the Hub's LFS headers
    path = hub_file(REPO)
    assert path.read_bytes() == DATA
    assert try_to_load_from_cache(REPO, "model.safetensors", cache_dir=tmp_path / "hf") == str(path)
    folder = tmp_path / "hf" / "models--org--tiny"
    assert (folder / "blobs" / SHA).read_bytes() == DATA
    assert (folder / "refs" / "main").read_text() == COMMIT
    assert path == folder / "snapshots" / COMMIT / "model.safetensors" and path.is_symlink()


@pytest.mark.parametrize(
    ("quirks", "words"),
    [
        (Quirks(etag="0" * 64), ["rejected", "SHA-256"]),
        (Quirks(etag="0" * 64, linked=True), ["rejected", "SHA-256"]),
        (Quirks(length=150_000), ["rejected", "SHA-256"]),
        (Quirks(truncate_at=120_000), ["did not complete", "120000 of 200000"]),
        (Quirks(etag="not-a-sha"), ["gave no SHA-256"]),
    ],
    ids=["wrong-etag", "wrong-linked-etag", "short-length", "truncated", "etag-not-sha256"],
)
def test_a_body_that_is_not_the_hubs_file_never_enters_the_cache(
    hub, tmp_path: Path, quirks: Quirks, words: list[str]
) -> None:
    from engine.models.weights import DownloadFailed
    from engine.models.weights.hf import cached_hub_file, hub_file

    hub.quirks[(REPO, "model.safetensors")] = quirks
    with pytest.raises(DownloadFailed) as raised:
        hub_file(REPO)
    for word in words:
        assert word in raised.value.message, raised.value.message
    assert cached_files(tmp_path) == [] and cached_hub_file(REPO) is None


def test_a_trickling_body_ends_with_a_stall_error(hub, monkeypatch) -> None:
    from engine.models.weights import DownloadFailed
    from engine.models.weights.hf import hub_file

    monkeypatch.setenv("PTM_DOWNLOAD_STALL_S", "3")  # the torchvision path's rule, a short window
    hub.quirks[(REPO, "model.safetensors")] = Quirks(byte_delay=2.0)
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match="below the minimum"):
        hub_file(REPO)
    assert time.monotonic() - started < 20


def test_http_500_is_retried_briefly_and_named(hub) -> None:
    from engine.models.weights import DownloadFailed
    from engine.models.weights.hf import hub_file

    hub.quirks[(REPO, "model.safetensors")] = Quirks(status=500)
    started = time.monotonic()
    with pytest.raises(DownloadFailed) as raised:
        hub_file(REPO)
    assert time.monotonic() - started < 10
    assert "HTTP 500" in raised.value.message and "has no weights file" not in raised.value.message
    assert "tried 3 times" in raised.value.message


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://hub.invalid"])
def test_the_hub_offline_fails_in_seconds(hub, monkeypatch, endpoint: str) -> None:
    from engine.models.weights import DownloadFailed
    from engine.models.weights.hf import hub_file

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    started = time.monotonic()
    with pytest.raises(DownloadFailed) as raised:
        hub_file(REPO)
    assert time.monotonic() - started < 5  # ~52 s of "Retrying in 8s" before
    assert ("does not resolve" if "invalid" in endpoint else "cannot reach the Hub") in raised.value.message


def test_the_hub_offline_names_the_ways_on(tmp_path: Path) -> None:
    env = {
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "TORCH_HOME": str(tmp_path / "torch"),
    }
    result = ptm("inspect", f"timm/{TIMM_REPO.split('/')[1]}", "--weights", "default", env=env)
    assert result.returncode == 1, result.stderr
    for words in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "ptm-tui import", "tried 3 times"):
        assert words in result.stderr, result.stderr
    assert "Retrying" not in result.stderr and "Traceback" not in result.stderr


def test_a_password_in_hf_endpoint_is_masked(tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": "http://alice:s3cret-pw@127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "hf")}
    result = ptm("download", f"timm/{TIMM_REPO.split('/')[1]}", env=env)
    assert result.returncode == 1
    assert "s3cret" not in result.stderr + result.stdout and "alice:***@" in result.stderr


def test_a_corrupt_hub_file_is_never_packed_into_a_bundle(hub, tmp_path: Path) -> None:
    hub.serve(TIMM_REPO, "model.safetensors", DATA)
    hub.quirks[(TIMM_REPO, "model.safetensors")] = Quirks(length=100_000)
    bundle = tmp_path / "weights.tar"
    result = ptm("download", f"timm/{TIMM_REPO.split('/')[1]}", "--bundle", str(bundle))
    assert result.returncode == 1 and "rejected" in result.stderr, result.stderr
    assert not bundle.exists() and cached_files(tmp_path) == []
