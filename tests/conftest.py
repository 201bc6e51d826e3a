"""Fixtures shared by all tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:
    from tests.helpers.http_server import FileServer
except ImportError:  # tests/ itself is on sys.path (rootdir without __init__.py)
    from helpers.http_server import FileServer


@pytest.fixture
def http_server() -> Iterator[FileServer]:
    """A real HTTP server on 127.0.0.1 serving in-memory files (see tests/helpers/http_server)."""
    server = FileServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """Point TORCH_HOME at a fresh folder; return the checkpoint cache folder inside it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("PTM_WEIGHTS_MIRROR", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small matmuls: one torch thread is fastest on a busy shared machine (restored after)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def own_state_folder(tmp_path, monkeypatch):
    """Every test gets its own $PTM_HOME: the explorer autosaves recipes there, so one test's
    edits never offer themselves to another (nor land in the user's folder)."""
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh $PTM_HOME for finetune jobs (their runners use one torch thread)."""
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path / "home"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """scikit-learn's digits as a 12 px ImageFolder of 300 images, made once per test module."""
    from engine.train.sample_data import write_digits

    return write_digits(tmp_path_factory.mktemp("data") / "digits", size=12, limit=300)
