"""Defects found attacking the weights paths (issue 10, section 5), driven through the CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.usefixtures("torch_home")

NET_PY = """
from torch import nn
class Net(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(64, 2))
"""


class RunsShell:
    """Pickles into a call of os.system: what a malicious checkpoint carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def ptm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `ptm-tui ARGS` in a fresh process with the test's environment."""
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, errors="backslashreplace", timeout=timeout, env=dict(os.environ),
                          cwd=Path(__file__).resolve().parents[2])


def net_model(tmp_path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """Write the small user model; return its spec and a state dict of its random init."""
    (tmp_path / "net.py").write_text(NET_PY)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(64, 2))
    return f"{tmp_path / 'net.py'}:Net", OrderedDict(net.state_dict())


def test_download_of_a_local_file_url_is_refused(torch_home: Path) -> None:
    result = ptm("download", "file:///etc/hostname")
    assert result.returncode == 2, result.stderr
    assert "only http(s)://" in result.stderr and "--weights" in result.stderr
    assert not (torch_home / "hostname").exists()


@pytest.mark.parametrize("url", ["http://[::1/x.pth", "http://host:port/x.pth"])
def test_malformed_url_is_bad_input(url: str) -> None:
    result = ptm("download", url)
    assert result.returncode == 2
    assert "not a valid URL" in result.stderr and "Traceback" not in result.stderr


def test_refused_download_does_not_stay_in_the_cache(tmp_path: Path, http_server,
                                                     torch_home: Path) -> None:
    spec, _ = net_model(tmp_path)
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.pth"
    torch.save({"payload": RunsShell(marker)}, evil)
    data = evil.read_bytes()
    url = http_server.serve(f"m/evil-{hashlib.sha256(data).hexdigest()[:8]}.pth", data)
    result = ptm("inspect", spec, "--weights", url)
    assert result.returncode == 2, result.stderr
    assert "refused" in result.stderr and "os.system" in result.stderr
    assert not marker.exists()
    assert not torch_home.exists() or os.listdir(torch_home) == []


def test_weights_file_with_a_name_that_is_not_utf8_opens(tmp_path: Path) -> None:
    spec, state = net_model(tmp_path)
    name = os.fsdecode(b"w\xff\xfe.pth")
    torch.save(state, tmp_path / name)
    result = ptm("inspect", spec, "--weights", str(tmp_path / name), "--stats")
    assert result.returncode == 0, result.stderr
    assert "corrupt" not in result.stderr and "Linear" in result.stdout


def test_safetensors_with_a_name_that_is_not_utf8_opens(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    spec, state = net_model(tmp_path)
    name = os.fsdecode(b"w\xff.safetensors")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "plain.safetensors"))
    os.rename(tmp_path / "plain.safetensors", tmp_path / name)
    result = ptm("inspect", spec, "--weights", str(tmp_path / name))
    assert result.returncode == 0, result.stderr


def make_special(tmp_path: Path, kind: str) -> Path:
    """Make a path that is not a regular file: a FIFO, a device, a link loop, a dangling link."""
    if kind == "fifo":
        os.mkfifo(tmp_path / "w.pth")
        return tmp_path / "w.pth"
    if kind == "device":
        return Path("/dev/null")
    if kind == "loop":
        os.symlink(tmp_path / "w.pth", tmp_path / "w.pth")
        return tmp_path / "w.pth"
    os.symlink(tmp_path / "gone.pth", tmp_path / "w.pth")
    return tmp_path / "w.pth"


@pytest.mark.parametrize(("kind", "said"), [
    ("fifo", "named pipe (FIFO)"), ("device", "device file"),
    ("loop", "symbolic link loop"), ("dangling", "symbolic link to a file that does not exist"),
])
def test_a_path_that_is_not_a_file_says_what_it_is(tmp_path: Path, kind: str, said: str) -> None:
    spec, _ = net_model(tmp_path)
    result = ptm("inspect", spec, "--weights", str(make_special(tmp_path, kind)), timeout=60)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "no such file" not in result.stderr


def tamper(state: OrderedDict, how: str) -> OrderedDict:
    """Return `state` changed the way an attacker or a broken script would."""
    state = OrderedDict(state)
    metadata = getattr(state, "_metadata", None)
    if how == "int":
        state["3.weight"] = state["3.weight"].to(torch.int64)
    elif how == "bool":
        state["3.weight"] = state["3.weight"] > 0
    elif how == "sparse":
        state["3.weight"] = state["3.weight"].to_sparse()
    elif how == "meta":
        state["3.weight"] = torch.empty(2, 64, device="meta")
    elif how == "expanded":
        state["3.bias"] = torch.zeros(1).expand(2)
    else:
        metadata = {"list": [1, 2], "str": "x", "number": 7}[how]
    state._metadata = metadata  # type: ignore[attr-defined]
    return state


@pytest.mark.parametrize(("how", "key", "said"), [
    ("int", "'3.weight'", "int64 values"), ("bool", "'3.weight'", "bool values"),
    ("sparse", "'3.weight'", "sparse"), ("meta", "'3.weight'", "meta device"),
    ("expanded", "'3.bias'", "expanded"), ("list", "'_metadata'", "is a list"),
    ("str", "'_metadata'", "is a str"), ("number", "'_metadata'", "is a int"),
])
def test_tampered_state_dicts_exit_2_naming_the_key(tmp_path: Path, how: str, key: str,
                                                    said: str) -> None:
    spec, state = net_model(tmp_path)
    torch.save(tamper(state, how), tmp_path / "bad.pth")
    for command in (["inspect", spec, "--weights", str(tmp_path / "bad.pth"), "--stats"],
                    ["init", spec, "--weights", str(tmp_path / "bad.pth"), "--method", "zeros",
                     "--out", str(tmp_path / "out.pth")]):
        result = ptm(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert key in result.stderr and said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
