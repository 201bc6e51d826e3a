"""Where downloads go is checked before downloading, secrets stay masked, odd weights give messages."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

pytestmark = pytest.mark.usefixtures("torch_home")

ROOT = Path(__file__).resolve().parents[2]
MODEL = "squeezenet1_0"



def assert_refused(result: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> None:
    """Assert a clear refusal: the exit code, the words in the message, and no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


@pytest.mark.parametrize(
    ("flag", "where", "words"),
    [
        ("--bundle", "folder", ["it is a folder"]),
        ("--bundle", "/proc/weights.tar", ["/proc"]),
        ("--bundle", "long", ["bytes; at most"]),
        ("--bundle", "missing/w.tar", ["does not exist"]),
        ("--dest", "file", ["it is a file"]),
        ("--dest", "/proc/weights", ["/proc"]),
        ("--dest", "long", ["bytes; at most"]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_place_that_cannot_be_written_is_refused_before_downloading(
    http_server, tmp_path: Path, flag: str, where: str, words: list[str]
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    target = {
        "folder": tmp_path / "folder",
        "file": tmp_path / "file",
        "long": tmp_path / ("w" * 300 + ".tar"),
        "missing/w.tar": tmp_path / "no" / "w.tar",
    }.get(where, Path(where))
    mirror = {"PTM_WEIGHTS_MIRROR": http_server.url("models/")}
    result = ptm("download", MODEL, flag, str(target), env=mirror)
    assert_refused(result, flag, *words)
    assert http_server.requests == []  # checked before any byte was fetched


def test_a_password_in_a_url_is_sent_as_basic_auth_and_never_shown(http_server) -> None:
    data = os.urandom(5000)
    name = f"net-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    http_server.serve(f"models/{name}", data)
    url = http_server.url(f"models/{name}").replace("http://", "http://alice:s3cret@")
    result = ptm("download", url, "--json")
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["url"].startswith("http://alice:***@")
    sent = http_server.requests[-1].authorization
    assert sent == "Basic " + base64.b64encode(b"alice:s3cret").decode()

    missing = url.replace(name, "gone-12345678.pth")
    result = ptm("download", missing)
    assert_refused(result, "gone-12345678.pth", "HTTP 404", code=1)
    assert "s3cret" not in result.stderr


def test_a_password_in_the_mirror_is_masked(http_server) -> None:
    mirror = http_server.url("models/").replace("http://", "http://bob:hunter2@")
    result = ptm("download", MODEL, env={"PTM_WEIGHTS_MIRROR": mirror})
    assert_refused(result, "bob:***@", code=1)
    assert "hunter2" not in result.stderr


def test_a_symlink_loop_in_a_weights_folder_gives_a_message(tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    (folder / f"{MODEL}-12345678.pth").symlink_to(folder / f"{MODEL}-12345678.pth")
    result = ptm("inspect", MODEL, "--weights", str(folder))
    assert_refused(result, f"no weights file for {MODEL} in {folder}")


def test_a_module_prefixed_state_dict_with_metadata_as_text_gives_a_message(tmp_path: Path) -> None:
    state = OrderedDict({"module.features.0.weight": torch.zeros(96, 3, 7, 7)})
    state._metadata = "module.features"  # type: ignore[attr-defined]
    torch.save(state, tmp_path / "odd.pth")
    result = ptm("inspect", MODEL, "--weights", str(tmp_path / "odd.pth"))
    assert_refused(result, "'_metadata' attribute is a str")
