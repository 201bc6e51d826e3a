"""Reading weights files safely: refusing code, reporting damage, finding the state dict."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from engine.errors import BadInput
from engine.models import weights

pytestmark = pytest.mark.usefixtures("torch_home")


class RunsShell:
    """Pickles into a call of os.system: what a malicious checkpoint carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class NotAllowed:
    """A harmless class that is still not on torch's allowlist."""


def small_net() -> nn.Module:
    """Return a tiny conv net with a BatchNorm (buffers and version metadata)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))


def net_state() -> dict[str, torch.Tensor]:
    """Return the state dict of a materialised small_net."""
    net = small_net()
    net(torch.zeros(1, 3, 6, 6))
    return net.state_dict()


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor],
                ordered: bool = True) -> None:
    """Assert two state dicts have the same keys (in order unless not `ordered`), equal tensors."""
    assert list(got) == list(want) if ordered else sorted(got) == sorted(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_pickled_os_system_is_refused_and_never_runs(tmp_path: Path, zip_format: bool) -> None:
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.ones(2), "payload": RunsShell(marker)}, path,
               _use_new_zipfile_serialization=zip_format)

    with pytest.raises(weights.UnsafeCheckpoint) as caught:
        weights.read_state_dict(path)

    assert "system" in caught.value.global_name
    assert "os.system" in caught.value.message
    assert "nothing in the file was run" in caught.value.message
    assert "weights_only=False" not in caught.value.message
    assert caught.value.exit_code == 2
    assert not marker.exists()


def test_the_payload_is_live_under_plain_pickle(tmp_path: Path) -> None:
    # Proves the refusal above matters: an unsafe loader would have run the command.
    marker = tmp_path / "RAN"
    pickle.loads(pickle.dumps(RunsShell(marker)))
    assert marker.exists()


def test_unknown_class_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "obj.pth"
    torch.save({"weight": torch.ones(2), "extra": NotAllowed()}, path)
    with pytest.raises(weights.UnsafeCheckpoint) as caught:
        weights.read_checkpoint(path)
    assert caught.value.global_name.endswith("NotAllowed")
    assert "NotAllowed" in caught.value.message


def test_whole_pickled_model_is_refused_with_the_state_dict_fix(tmp_path: Path) -> None:
    path = tmp_path / "whole.pth"
    torch.save(small_net(), path)
    with pytest.raises(weights.UnsafeCheckpoint) as caught:
        weights.read_state_dict(path)
    assert caught.value.global_name.startswith("torch.nn.modules.")
    assert "model.state_dict()" in caught.value.fix


def test_malicious_file_from_a_url_is_refused(tmp_path: Path, http_server) -> None:
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pth"
    torch.save({"payload": RunsShell(marker)}, path)
    data = path.read_bytes()
    url = http_server.serve(f"m/evil-{hashlib.sha256(data).hexdigest()[:8]}.pth", data)
    with pytest.raises(weights.UnsafeCheckpoint):
        weights.read_state_dict(url)
    assert not marker.exists()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.95])
def test_truncated_file_is_corrupt(tmp_path: Path, zip_format: bool, keep: float) -> None:
    path = tmp_path / "net.pth"
    torch.save(net_state(), path, _use_new_zipfile_serialization=zip_format)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])

    with pytest.raises(weights.CorruptCheckpoint) as caught:
        weights.read_state_dict(path)

    assert "truncated or corrupt" in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.exit_code == 2


def test_empty_and_garbage_files_are_corrupt(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(weights.CorruptCheckpoint, match="empty"):
        weights.read_state_dict(empty)
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n" * 10)
    with pytest.raises((weights.CorruptCheckpoint, weights.UnsafeCheckpoint)):
        weights.read_state_dict(text)


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        weights.read_state_dict(tmp_path / "nope.pth")


def test_zip_files_are_memory_mapped_and_legacy_files_read(tmp_path: Path) -> None:
    state = net_state()
    modern, legacy = tmp_path / "modern.pth", tmp_path / "legacy.pth"
    torch.save(state, modern)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    assert weights.safe_load.file_format(modern) == "zip"
    assert weights.safe_load.file_format(legacy) == "pickle"

    mapped = weights.read_state_dict(modern)
    plain = weights.read_state_dict(legacy)  # mmap=True is ignored for a non-zip file

    assert_same(mapped, state)
    assert_same(plain, state)
    if Path("/proc/self/maps").exists():
        assert mapped_from(mapped["0.weight"]) == str(modern)
        assert mapped_from(plain["0.weight"]) is None
        assert mapped_from(weights.read_state_dict(modern, mmap=False)["0.weight"]) is None


def mapped_from(tensor: torch.Tensor) -> str | None:
    """Return the file whose memory map holds `tensor`'s data (Linux), else None."""
    address = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end:
            name = fields[5].strip() if len(fields) == 6 else ""
            return name if name.startswith("/") else None
    return None


def test_safetensors_read(tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in net_state().items()}
    path = tmp_path / "net.safetensors"
    save_file({f"module.{k}": v for k, v in state.items()}, path)
    assert_same(weights.read_state_dict(path), state, ordered=False)  # safetensors sorts keys
    # Recognised by its bytes too, whatever the suffix.
    other = tmp_path / "net.bin"
    other.write_bytes(path.read_bytes())
    assert weights.safe_load.file_format(other) == "safetensors"
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(weights.CorruptCheckpoint):
        weights.read_state_dict(truncated)


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> OrderedDict[str, torch.Tensor]:
    """Return `state` with `prefix` in front of every key."""
    return OrderedDict((prefix + k, v) for k, v in state.items())


LAYOUTS = {
    "plain": lambda s: s,
    "state_dict": lambda s: {"state_dict": s, "epoch": 7},
    "model": lambda s: {"model": s, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3},
    "model_state_dict": lambda s: {"model_state_dict": s, "best_acc": 0.9},
    "nested": lambda s: {"checkpoint": {"model": {"state_dict": s}}, "args": ["--lr", "0.1"]},
    "ddp": lambda s: _prefixed(s, "module."),
    "compiled": lambda s: _prefixed(s, "_orig_mod."),
    "ddp_compiled_in_model": lambda s: {"model": _prefixed(s, "module._orig_mod.")},
    "ema_after_model": lambda s: {"model": s, "model_ema": {k: v * 0 for k, v in s.items()}},
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_state_dict_found_in_common_layouts(tmp_path: Path, layout: str) -> None:
    state = net_state()
    path = tmp_path / f"{layout}.pth"
    torch.save(LAYOUTS[layout](state), path)

    found = weights.read_state_dict(path)

    assert_same(found, state)
    net = small_net()
    net(torch.zeros(1, 3, 6, 6))
    net.load_state_dict(found, strict=True)  # the keys fit the model as it is
    assert torch.equal(net[0].weight, state["0.weight"])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_quantized_state_keeps_packed_params(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = torch.ao.nn.quantized.Linear(4, 2)
    wrapper = nn.Module()  # like DistributedDataParallel: keys and version metadata prefixed
    wrapper.module = source
    path = tmp_path / "q.pth"
    torch.save({"model": wrapper.state_dict(), "epoch": 1}, path)

    found = weights.read_state_dict(path)

    assert sorted(found) == sorted(source.state_dict())
    target = torch.ao.nn.quantized.Linear(4, 2)
    target.load_state_dict(found, strict=True)
    assert torch.equal(target.weight().int_repr(), source.weight().int_repr())


def test_prefix_only_stripped_when_every_key_has_it() -> None:
    mixed = {"module.a": torch.zeros(1), "b": torch.zeros(1)}
    assert list(weights.strip_prefixes(mixed)) == ["module.a", "b"]


def test_checkpoint_without_tensors_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "meta.pth"
    torch.save({"epoch": 3, "args": {"lr": 0.1}}, path)
    with pytest.raises(BadInput) as caught:
        weights.read_state_dict(path)
    assert "no weights found" in caught.value.message and "epoch" in caught.value.message


def test_read_from_url_downloads_into_cache(tmp_path: Path, http_server) -> None:
    state = net_state()
    path = tmp_path / "net.pth"
    torch.save({"state_dict": state}, path)
    data = path.read_bytes()
    name = f"net-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    url = http_server.serve(f"w/{name}", data)

    assert_same(weights.read_state_dict(url), state)
    assert (weights.cache_dir() / name).read_bytes() == data


@pytest.mark.parametrize(("data", "looks_like"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "a PNG image"),
    (b"<!DOCTYPE html><html>Sign in</html>", "an HTML/XML page"),
])
def test_a_file_that_is_not_weights_says_what_it_looks_like(tmp_path: Path, data: bytes,
                                                            looks_like: str) -> None:
    path = tmp_path / "model.pth"
    path.write_bytes(data)
    with pytest.raises(BadInput, match=f"it is not a weights file: it starts like {looks_like}"):
        weights.read_state_dict(path)
