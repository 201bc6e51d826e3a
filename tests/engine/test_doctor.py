"""`ptm-tui doctor`'s checks, read against what torch, the installers, the disk and real servers say
(issue 24 item 3). This machine has no GPU and no internet; the tests say so where it shows."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

from engine.doctor.check import size_text
from engine.doctor.folders import folder_checks
from engine.doctor.gpu import build_checks, cudnn_text, gpu_checks
from engine.doctor.network import network_checks, probe, probe_all
from engine.doctor.software import software_checks
from engine.doctor.tools import tool_checks


def _by_name(rows):
    return {row.name: row for row in rows}


def _closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def folder_server(tmp_path):
    """Python's own http.server on 127.0.0.1 serving a folder (HEAD included); `.asked` lists the paths."""
    (tmp_path / "served" / "mirror").mkdir(parents=True)
    (tmp_path / "served" / "hub").mkdir()
    asked: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            asked.append(self.path)

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(tmp_path / "served"))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.base = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    server.asked = asked  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def no_hub_flags(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PTM_WEIGHTS_MIRROR", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_versions_are_what_the_installers_recorded() -> None:
    rows = _by_name(software_checks())
    for name in ("torch", "torchvision", "timm", "textual"):
        assert rows[name].state == "ok" and rows[name].value == version(name)
    assert torch.__version__.startswith(rows["torch"].value.split("+")[0])


def test_the_cuda_build_lines_are_torchs_own() -> None:
    rows = _by_name(build_checks())
    if torch.version.cuda is None:
        assert rows["CUDA"].value.startswith("none: ") and "CPU-only" in rows["CUDA"].value
        assert "CUDA build" in rows["CUDA"].fix
        return
    assert rows["CUDA"].details["cuda"] == torch.version.cuda
    assert rows["cuDNN"].value == cudnn_text(torch.backends.cudnn.version())
    assert rows["NCCL"].value == ".".join(map(str, torch.cuda.nccl.version()))


def test_cudnn_numbers_read_as_nvidia_writes_them() -> None:
    # cuDNN 8 packs major*1000 + minor*100 + patch, cuDNN 9 major*10000 + minor*100 + patch
    assert cudnn_text(8902) == "8.9.2"
    assert cudnn_text(90100) == "9.1.0"
    assert cudnn_text(91002) == "9.10.2"


def test_each_gpu_torch_sees_or_plainly_no_gpu() -> None:
    rows = gpu_checks()
    if not torch.cuda.is_available():  # this machine
        (row,) = rows
        assert row.state == "warn" and row.value.startswith("no GPU: ")
        assert "training runs on the CPU" in row.value and row.fix.startswith("to train on a GPU: ")
        return
    assert len(rows) == torch.cuda.device_count()
    for index, row in enumerate(rows):
        _, total = torch.cuda.mem_get_info(index)
        major, minor = torch.cuda.get_device_capability(index)
        assert row.details["name"] == torch.cuda.get_device_name(index)
        assert row.details["memory_total"] == total and 0 <= row.details["memory_free"] <= total
        assert row.details["compute_capability"] == f"{major}.{minor}"
        assert row.details["bf16"] == (torch.cuda.get_device_capability(index) >= (8, 0))


def test_hidden_gpus_are_named_as_the_reason(monkeypatch) -> None:
    if torch.cuda.is_available() or torch.version.cuda is None:
        pytest.skip("needs a CUDA build of torch on a machine without a GPU (this one)")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    (row,) = gpu_checks()
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU" in row.value and "unset CUDA_VISIBLE_DEVICES" in row.fix


def _hf_cache_with_one_file(root: Path, size: int) -> None:
    """Lay out one file as huggingface_hub does: the bytes in blobs/, a link to them in snapshots/."""
    repo = root / "models--org--tiny"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc123").write_bytes(b"w" * size)
    (repo / "snapshots" / "main").mkdir(parents=True)
    (repo / "snapshots" / "main" / "model.safetensors").symlink_to(repo / "blobs" / "abc123")


def test_cache_sizes_count_each_file_once_with_the_free_disk(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "tiny-0123abcd.pth").write_bytes(b"x" * 1000)
    _hf_cache_with_one_file(tmp_path / "hf", 3000)
    rows = _by_name(folder_checks())
    hub, hf = rows["torch.hub cache"], rows["Hugging Face cache"]
    assert hub.state == "ok" and hub.details["size"] == 1000
    assert hf.state == "ok" and hf.details["size"] == 3000  # the snapshot link is not counted again
    assert str(tmp_path / "hf") in hf.value and size_text(3000) in hf.value
    free = shutil.disk_usage(tmp_path).free
    assert abs(hf.details["free_disk"] - free) < 256 << 20


def test_a_cache_not_made_yet_is_fine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nothing-yet"))
    row = _by_name(folder_checks())["torch.hub cache"]
    assert row.state == "ok" and "not made yet" in row.value and not (tmp_path / "nothing-yet").exists()


def test_a_ptm_home_that_cannot_be_written_says_what_to_set(tmp_path, monkeypatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    for home in (tmp_path / "a-file", tmp_path / "a-file" / "state"):
        monkeypatch.setenv("PTM_HOME", str(home))
        row = _by_name(folder_checks())["PTM_HOME"]
        assert row.state == "fail" and "is a file, not a folder" in row.value
        assert "jobs, autosaved recipes" in row.value and row.fix.startswith("export PTM_HOME=")


def test_a_writable_ptm_home_is_left_as_it_was(tmp_path, monkeypatch) -> None:
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    row = _by_name(folder_checks())["PTM_HOME"]
    assert row.state == "ok" and row.details["writable"] is True
    assert list((tmp_path / "home").iterdir()) == []  # the write test left nothing behind


def test_a_local_server_answers_and_a_closed_port_does_not(folder_server, http_server) -> None:
    assert probe(folder_server.base + "mirror/") == (True, "answers (HTTP 200)")
    assert probe(folder_server.base + "elsewhere/") == (True, "answers (HTTP 404)")  # any answer counts
    assert probe(http_server.base) == (True, "answers (HTTP 501)")  # a server that only does GET
    answered, why = probe(f"http://127.0.0.1:{_closed_port()}/")
    assert not answered and why == "the connection was refused (nothing listens there)"


def test_no_internet_is_said_plainly() -> None:
    # .invalid never resolves (RFC 2606): what a machine without DNS sees for every host
    assert probe("https://weights.invalid/models/") == (
        False,
        "its name does not resolve: no network or no DNS here",
    )


def test_a_server_that_never_answers_is_given_up_on_in_time() -> None:
    with socket.socket() as silent:  # listens, so the connection is made, but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        started = time.monotonic()
        found = probe_all([url, url + "again"], timeout=0.3)
        assert time.monotonic() - started < 2.0  # asked at the same time, each bounded
    assert found[url] == (False, "no answer within 0.3 s")


def test_the_mirror_and_hub_lines_say_what_answered(folder_server, monkeypatch, no_hub_flags) -> None:
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", folder_server.base + "mirror/")
    monkeypatch.setenv("HF_ENDPOINT", folder_server.base + "hub")
    rows = _by_name(network_checks())
    assert rows["weights mirror"].state == "ok"
    assert rows["weights mirror"].value == f"{folder_server.base}mirror/: answers (HTTP 200)"
    assert rows["Hugging Face Hub"].state == "ok" and "/hub/" in folder_server.asked
    assert rows["torchvision weights"].state in ("ok", "info")  # the mirror serves its files anyway


def test_an_unreachable_mirror_fails_with_its_fix(monkeypatch, no_hub_flags) -> None:
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", f"http://127.0.0.1:{_closed_port()}/models/")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    rows = _by_name(network_checks())
    mirror, hub = rows["weights mirror"], rows["Hugging Face Hub"]
    assert mirror.state == "fail" and "refused" in mirror.value and "check PTM_WEIGHTS_MIRROR" in mirror.fix
    assert hub.state == "warn" and "HF_HUB_OFFLINE=1" in hub.fix and "HF_ENDPOINT" in hub.fix


def test_a_mirror_that_is_not_a_url_is_refused(monkeypatch, no_hub_flags) -> None:
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", "mirror.example/models")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    row = _by_name(network_checks())["weights mirror"]
    assert row.state == "fail" and "is not a URL" in row.value and "PTM_WEIGHTS_MIRROR=http://" in row.fix


@pytest.mark.parametrize("flag", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_an_offline_flag_means_the_hub_is_not_asked(folder_server, monkeypatch, no_hub_flags, flag) -> None:
    monkeypatch.setenv(flag, "1")
    monkeypatch.setenv("HF_ENDPOINT", folder_server.base + "hub")
    row = _by_name(network_checks())["Hugging Face Hub"]
    assert row.state == "info" and row.value.startswith(f"not asked: {flag} is set")
    assert folder_server.asked == []


def test_hf_hub_offline_0_is_not_overridden_by_transformers_offline(monkeypatch, no_hub_flags) -> None:
    from engine.models.weights.hf import offline_flag

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # huggingface_hub reads TRANSFORMERS_OFFLINE only when unset
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert offline_flag() is None


def test_transformers_offline_keeps_hub_downloads_off_the_network(
    http_server, tmp_path, monkeypatch, no_hub_flags
) -> None:
    from engine.models.weights.errors import DownloadFailed
    from engine.models.weights.hf import hub_file

    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_ENDPOINT", http_server.base.rstrip("/"))
    with pytest.raises(DownloadFailed, match="TRANSFORMERS_OFFLINE is set"):
        hub_file("org/tiny")
    assert http_server.requests == []


def test_tools_found_on_path_or_said_missing_with_what_they_are_for(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: nothing found
    rows = _by_name(tool_checks())
    assert rows["Slurm"].state == "info" and "sbatch and squeue not on PATH" in rows["Slurm"].value
    assert "module load slurm" in rows["Slurm"].fix
    assert rows["tmux"].state == "info" and "install tmux" in rows["tmux"].fix
    assert rows["dot"].state == "info" and "install Graphviz" in rows["dot"].fix
    real = shutil.which("tmux", path=os.defpath + ":/usr/bin")
    if real is None:
        pytest.skip("tmux is not installed here")
    (tmp_path / "tmux").symlink_to(real)
    row = _by_name(tool_checks())["tmux"]
    assert row.state == "ok" and row.details["path"] == str(tmp_path / "tmux")
    assert row.details["version"].startswith("tmux ")


def test_a_file_url_mirror_is_a_folder_here_or_not(tmp_path, monkeypatch, no_hub_flags) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", tmp_path.as_uri() + "/")
    assert _by_name(network_checks())["weights mirror"].state == "ok"
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", (tmp_path / "gone").as_uri() + "/")
    row = _by_name(network_checks())["weights mirror"]
    assert row.state == "fail" and f"{tmp_path / 'gone'} is not a folder here" in row.value
