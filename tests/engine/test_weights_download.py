"""Downloads into torch.hub's cache from a real local HTTP server: right file or nothing."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from engine.errors import BadInput
from engine.models import weights
from engine.models.weights.cache import work_dir

pytestmark = pytest.mark.usefixtures("torch_home")


def payload(size: int = 300_000, seed: int = 0) -> bytes:
    """Return `size` reproducible pseudo-random bytes."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (size,), dtype=torch.uint8, generator=generator).numpy().tobytes()


def hashed_name(data: bytes, stem: str = "net", ext: str = ".pth") -> str:
    """Return a torch.hub style file name carrying the real SHA-256 prefix of `data`."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}{ext}"


def cache_listing() -> list[str]:
    """Return the names in the checkpoint cache (empty when the folder does not exist)."""
    folder = weights.cache_dir()
    return sorted(os.listdir(folder)) if folder.exists() else []


def partial_files() -> list[str]:
    """Return the partial downloads kept for resuming."""
    folder = work_dir()
    return sorted(p.name for p in folder.glob("*.partial")) if folder.exists() else []


def test_cache_dir_follows_torch_home(torch_home: Path, monkeypatch, tmp_path) -> None:
    assert weights.cache_dir() == torch_home
    assert weights.cache_dir() == Path(torch.hub.get_dir()) / "checkpoints"
    # Without torch loaded (the CLI's fast path) the same folder is computed from the env.
    monkeypatch.delitem(sys.modules, "torch.hub")
    assert weights.cache_dir() == torch_home
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "torch" / "hub" / "checkpoints"


def test_good_download_lands_in_cache_with_progress(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data)
    seen: list[tuple[int, int | None]] = []

    path = weights.download(url, progress=lambda done, total: seen.append((done, total)))

    assert path == weights.cache_dir() / name
    assert path.read_bytes() == data
    assert cache_listing() == [name]
    assert partial_files() == []
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert weights.cached_file(url) == path
    # A second call is served from the cache: no new request.
    assert weights.download(url) == path
    assert len(http_server.requests_for(f"models/{name}")) == 1


def test_torchvision_finds_our_file_and_we_find_its(http_server) -> None:
    state = {"weight": torch.arange(6.0).reshape(2, 3)}
    blob_path = weights.cache_dir().parent.parent / "blob.pth"
    blob_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, blob_path)
    data = blob_path.read_bytes()
    name = hashed_name(data, "tiny")
    url = http_server.serve(f"models/{name}", data)
    weights.download(url)
    http_server.stop()  # torch.hub must find the file without the network
    loaded = torch.hub.load_state_dict_from_url(url, check_hash=True, weights_only=True)
    assert torch.equal(loaded["weight"], state["weight"])

    other = weights.cache_dir() / "placed-by-torch.pth"
    torch.hub.download_url_to_file(blob_path.as_uri(), str(other), progress=False)
    assert weights.cached_file("https://example.org/x/placed-by-torch.pth") == other


def test_wrong_hash_leaves_nothing(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, body=payload(seed=1))

    with pytest.raises(weights.DownloadFailed) as caught:
        weights.download(url)

    assert "SHA-256" in caught.value.message and name.split("-")[1][:8] in caught.value.message
    assert caught.value.exit_code == 1
    assert cache_listing() == []
    assert partial_files() == []


def test_unchecked_hash_accepts_the_file(http_server) -> None:
    other = payload(seed=1)
    url = http_server.serve("models/net-00000000.pth", other)
    assert weights.download(url, check_hash=False).read_bytes() == other


def test_truncated_body_leaves_no_cached_file(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, ranges=False, truncate_at=len(data) // 3)

    with pytest.raises(weights.DownloadFailed) as caught:
        weights.download(url, attempts=2)

    assert f"of {len(data)} bytes" in caught.value.message
    assert "run the same command again" in caught.value.message
    assert cache_listing() == []
    assert weights.cached_file(url) is None
    assert len(http_server.requests_for(f"models/{name}")) == 2


def test_dropped_connection_resumes_with_range(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    cut = 100_000
    url = http_server.serve(f"models/{name}", data, drop_first_at=cut)

    path = weights.download(url)

    assert path.read_bytes() == data
    asked = http_server.requests_for(f"models/{name}")
    assert [r.range for r in asked] == [None, f"bytes={cut}-"]
    assert cache_listing() == [name] and partial_files() == []


def test_second_attempt_resumes_the_kept_partial(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    cut = 120_000
    url = http_server.serve(f"models/{name}", data, drop_first_at=cut)

    with pytest.raises(weights.DownloadFailed):
        weights.download(url, attempts=1)
    assert cache_listing() == []
    assert partial_files() == [f"{name}.partial"]

    assert weights.download(url).read_bytes() == data
    assert http_server.requests_for(f"models/{name}")[-1].range == f"bytes={cut}-"
    assert partial_files() == []


def test_complete_partial_from_a_killed_run_is_used(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data)
    work_dir().mkdir(parents=True)
    (work_dir() / f"{name}.partial").write_bytes(data)  # killed before the move

    assert weights.download(url).read_bytes() == data
    assert [r.range for r in http_server.requests_for(f"models/{name}")] == [f"bytes={len(data)}-"]
    assert partial_files() == []


def test_stale_partial_failing_the_hash_is_fetched_again(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data)
    work_dir().mkdir(parents=True)
    (work_dir() / f"{name}.partial").write_bytes(payload(1000, seed=9))

    assert weights.download(url).read_bytes() == data
    assert [r.range for r in http_server.requests_for(f"models/{name}")] == ["bytes=1000-", None]


def test_file_changed_on_server_is_not_spliced(http_server) -> None:
    old, new = payload(seed=4), payload(seed=5)
    url = http_server.serve("models/weights.bin", old, drop_first_at=70_000, etag='"v1"')
    with pytest.raises(weights.DownloadFailed):
        weights.download(url, attempts=1)
    http_server.serve("models/weights.bin", new, etag='"v2"')  # no hash in the name

    assert weights.download(url).read_bytes() == new
    last = http_server.requests_for("models/weights.bin")[-1]
    assert (last.range, last.if_range) == ("bytes=70000-", '"v1"')
    assert partial_files() == [] and sorted(os.listdir(work_dir())) == ["weights.bin.lock"]


def test_server_without_range_support_restarts_cleanly(http_server) -> None:
    data = payload()
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, ranges=False, drop_first_at=90_000)
    seen: list[int] = []

    path = weights.download(url, progress=lambda done, total: seen.append(done))

    assert path.read_bytes() == data
    asked = http_server.requests_for(f"models/{name}")
    assert [r.range for r in asked] == [None, "bytes=90000-"]  # asked, got 200, started over
    assert any(later < earlier for earlier, later in itertools.pairwise(seen))  # started over


def test_download_without_content_length(http_server) -> None:
    data = payload(50_000)
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, send_length=False)
    totals: list[int | None] = []
    assert weights.download(url, progress=lambda d, t: totals.append(t)).read_bytes() == data
    assert set(totals) == {None}


def test_http_error_is_a_clear_failure(http_server) -> None:
    url = http_server.url("models/missing-12345678.pth")
    with pytest.raises(weights.DownloadFailed) as caught:
        weights.download(url)
    assert "HTTP 404" in caught.value.message
    assert caught.value.exit_code == 1
    assert cache_listing() == [] and partial_files() == []


def test_unreachable_server_suggests_a_mirror(http_server) -> None:
    url = http_server.url("models/net-12345678.pth")
    http_server.stop()
    with pytest.raises(weights.DownloadFailed) as caught:
        weights.download(url, attempts=2)
    assert "cannot reach the server" in caught.value.message
    assert "PTM_WEIGHTS_MIRROR" in caught.value.message
    assert cache_listing() == [] and partial_files() == []


def test_cancel_leaves_nothing(http_server) -> None:
    data = payload(600_000)
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, chunk_delay=0.01)
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done > 50_000:
            cancel.set()

    with pytest.raises(weights.DownloadCancelled):
        weights.download(url, progress=progress, cancel=cancel)
    assert cache_listing() == [] and partial_files() == []


def test_mirror_replaces_torchvision_base(http_server, monkeypatch) -> None:
    data = payload(40_000)
    name = hashed_name(data, "resnet18")
    http_server.serve(f"mirror/models/{name}", data)
    official = f"https://download.pytorch.org/models/{name}"
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("mirror/models"))

    assert weights.mirror_url(official) == http_server.url(f"mirror/models/{name}")
    assert weights.mirror_url("https://example.org/models/x.pth") == "https://example.org/models/x.pth"
    path = weights.download(official)

    assert path == weights.cache_dir() / name and path.read_bytes() == data
    assert weights.cached_file(official) == path


def test_mirror_serving_the_wrong_file_names_the_mirror(http_server, monkeypatch) -> None:
    name = hashed_name(payload(), "resnet18")
    http_server.serve(f"m/{name}", payload(seed=3))
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("m/"))
    with pytest.raises(weights.DownloadFailed) as caught:
        weights.download(f"https://download.pytorch.org/models/{name}")
    assert "PTM_WEIGHTS_MIRROR" in caught.value.message
    assert cache_listing() == []
    with pytest.raises(weights.DownloadFailed) as caught:  # a mirror missing the file
        weights.download("https://download.pytorch.org/models/absent-12345678.pth")
    assert "HTTP 404" in caught.value.message and "PTM_WEIGHTS_MIRROR" in caught.value.message


_CHILD = """
import sys
from engine.models import weights
from engine.errors import BadInput
print(weights.download(sys.argv[1]))
"""


def test_two_processes_end_with_one_good_file(http_server) -> None:
    data = payload(1_000_000)
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, chunk_delay=0.03)  # about 2 s
    children = []
    for _ in range(2):
        children.append(subprocess.Popen([sys.executable, "-c", _CHILD, url],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))
        deadline = time.monotonic() + 60
        while not http_server.requests_for(f"models/{name}") and time.monotonic() < deadline:
            time.sleep(0.02)  # start the second while the first is downloading
    results = [child.communicate(timeout=120) for child in children]

    assert [child.returncode for child in children] == [0, 0], results
    paths = {out.strip() for out, _ in results}
    assert paths == {str(weights.cache_dir() / name)}
    assert (weights.cache_dir() / name).read_bytes() == data
    assert cache_listing() == [name] and partial_files() == []
    # The lock made the second process wait and then take the finished file.
    assert len(http_server.requests_for(f"models/{name}")) == 1


def test_killed_process_leaves_a_partial_the_next_run_resumes(http_server) -> None:
    data = payload(1_000_000)
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, chunk_delay=0.03)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = work_dir() / f"{name}.partial"
    deadline = time.monotonic() + 60
    while (not partial.exists() or partial.stat().st_size < 100_000) and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    child.kill()  # like a dropped SSH session: no cleanup runs, the lock dies with it
    child.wait(timeout=30)
    kept = partial.stat().st_size
    assert 0 < kept < len(data) and cache_listing() == []

    assert weights.download(url).read_bytes() == data
    resumed_from = int(http_server.requests_for(f"models/{name}")[-1].range.split("=")[1][:-1])
    assert resumed_from >= kept


def test_two_threads_end_with_one_good_file(http_server) -> None:
    data = payload(400_000)
    name = hashed_name(data)
    url = http_server.serve(f"models/{name}", data, chunk_delay=0.002)
    out: list[Path | BaseException] = []

    def fetch() -> None:
        try:
            out.append(weights.download(url))
        except BaseException as error:  # reported by the assert below
            out.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert out == [weights.cache_dir() / name] * 2
    assert out[0].read_bytes() == data
    assert len(http_server.requests_for(f"models/{name}")) == 1


def test_url_without_file_name_is_bad_input() -> None:
    with pytest.raises(BadInput) as caught:
        weights.download("http://127.0.0.1:9/")
    assert "file name" in caught.value.message


def test_unwritable_cache_is_a_clear_failure(http_server, tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TORCH_HOME", str(blocker / "torch"))
    url = http_server.serve("models/x.pth", b"abc")
    with pytest.raises(weights.DownloadFailed) as caught:
        weights.download(url)
    assert "TORCH_HOME" in caught.value.message
    assert http_server.requests == []
