"""Weight folders and bundles (issue 10, sections 2 and 3), through the CLI and real files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import torch
import torchvision

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

try:
    from tests.helpers.hub_server import HubServer
except ImportError:  # tests/ itself is on sys.path
    from helpers.hub_server import HubServer

pytestmark = pytest.mark.usefixtures("torch_home")

MODEL = "squeezenet1_0"
ROOT = Path(__file__).resolve().parents[2]



def weights_file(tmp_path: Path, seed: int = 0) -> tuple[str, bytes, dict[str, torch.Tensor]]:
    """Return (torch.hub name, bytes, state dict) of a seeded random squeezenet1_0."""
    torch.manual_seed(seed)
    state = torchvision.models.get_model(MODEL).state_dict()
    path = tmp_path / f"w{seed}.pth"
    torch.save(state, path)
    data = path.read_bytes()
    return f"{MODEL}-{hashlib.sha256(data).hexdigest()[:8]}.pth", data, state


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    """Assert two state dicts hold equal tensors under the same keys."""
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


def test_download_dest_then_open_the_folder(http_server, tmp_path: Path, torch_home: Path) -> None:
    from engine.models.loader import open_model

    name, data, state = weights_file(tmp_path)
    other = http_server.serve(f"m/other-{hashlib.sha256(b'x' * 99).hexdigest()[:8]}.pth",
                              b"x" * 99)
    lab = tmp_path / "lab"
    result = ptm("download", http_server.serve(f"m/{name}", data), other, "--dest", str(lab))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(lab / name), str(lab / other.rsplit("/", 1)[1])]
    assert (lab / name).read_bytes() == data
    assert not torch_home.exists()  # the folder, not the cache
    assert sorted(os.listdir(lab)) == sorted([".ptm-partial", name, other.rsplit("/", 1)[1]])
    assert all(p.name.endswith(".lock") for p in (lab / ".ptm-partial").iterdir())  # no partials

    opened = open_model(MODEL, str(lab))  # found by name: squeezenet1_0-<hash>.pth
    assert opened.weights_path == lab / name
    assert_same(opened.model.state_dict(), state)
    shown = ptm("inspect", MODEL, "--weights", str(lab), "--depth", "0")
    assert shown.returncode == 0 and name in shown.stdout.replace("\n", ""), shown.stderr


def test_two_candidates_in_a_folder_are_named(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    for seed in (0, 1):
        name, data, _ = weights_file(tmp_path, seed)
        (lab / name).write_bytes(data)
    names = sorted(os.listdir(lab))
    result = ptm("inspect", MODEL, "--weights", str(lab))
    assert result.returncode == 2
    assert names[0] in result.stderr and names[1] in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_file_that_fails_its_hash_is_refused(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    name, data, _ = weights_file(tmp_path)
    (lab / name).write_bytes(data[:-10] + b"0123456789")  # same name, other content
    result = ptm("inspect", MODEL, "--weights", str(lab))
    assert result.returncode == 2
    assert f"refused {lab / name}" in result.stderr and "SHA-256" in result.stderr


def test_a_folder_without_the_model_says_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    result = ptm("inspect", MODEL, "--weights", str(tmp_path / "lab"))
    assert result.returncode == 2
    assert f"{MODEL}-<sha256 prefix>.pth" in result.stderr and "--dest" in result.stderr


def test_weights_path_is_searched_before_the_network(http_server, tmp_path: Path) -> None:
    # The upstream name with other bytes: found on PTM_WEIGHTS_PATH, hash-checked, refused;
    # the network (the mirror) is never asked.
    from engine.models import catalog

    upstream = catalog.resolve_weights(MODEL, "default").url.rsplit("/", 1)[1]
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / upstream).write_bytes(weights_file(tmp_path)[1])
    env = {"PTM_WEIGHTS_PATH": f"{tmp_path / 'empty'}{os.pathsep}{shared}",
           "PTM_WEIGHTS_MIRROR": http_server.url("tv/")}
    result = ptm("inspect", MODEL, "--weights", "default", env=env)
    assert result.returncode == 2, result.stderr
    assert f"refused {shared / upstream}" in result.stderr
    assert http_server.requests == []


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A local Hub serving timm's test_resnet weights; HF_* point at it and a fresh cache."""
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = timm.create_model("test_resnet.r160_in1k").state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "t.safetensors"))
    server = HubServer().start()
    server.serve("timm/test_resnet.r160_in1k", "model.safetensors",
                 (tmp_path / "t.safetensors").read_bytes())
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PTM_WEIGHTS_PATH", raising=False)
    try:
        yield server, state
    finally:
        server.stop()


def test_timm_weights_in_a_folder_and_on_the_weights_path(hub, tmp_path: Path) -> None:
    from engine.models.loader import open_model

    _, state = hub
    lab = tmp_path / "lab"
    result = ptm("download", "timm/test_resnet.r160_in1k", "--dest", str(lab))
    assert result.returncode == 0, result.stderr
    assert (lab / "test_resnet.r160_in1k.safetensors").is_file()
    assert_same(open_model("timm/test_resnet.r160_in1k", str(lab)).model.state_dict(), state)
    os.environ["PTM_WEIGHTS_PATH"] = str(lab)
    try:
        opened = open_model("timm/test_resnet.r160_in1k", "default")
    finally:
        del os.environ["PTM_WEIGHTS_PATH"]
    assert opened.source == "folder pretrained"
    assert_same(opened.model.state_dict(), state)


def make_bundle(http_server, tmp_path: Path) -> tuple[Path, str, bytes]:
    """Download a torch.hub file and timm weights into a bundle; return (bundle, name, bytes)."""
    name, data, _ = weights_file(tmp_path)
    url = http_server.serve(f"m/{name}", data)
    bundle = tmp_path / "weights.tar"
    result = ptm("download", url, "timm/test_resnet.r160_in1k", "--bundle", str(bundle))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bundle)
    return bundle, name, data


def test_bundle_imports_on_a_server_without_network(hub, http_server, tmp_path: Path,
                                                    monkeypatch) -> None:
    bundle, name, data = make_bundle(http_server, tmp_path)
    with tarfile.open(bundle) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    by_kind = {item["kind"]: item for item in manifest["files"]}
    assert by_kind["torch.hub"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert by_kind["torch.hub"]["source"].endswith(name)
    assert by_kind["huggingface"]["repo"] == "timm/test_resnet.r160_in1k"
    assert by_kind["huggingface"]["model"] == "timm/test_resnet.r160_in1k"

    server = {"TORCH_HOME": str(tmp_path / "server-torch"), "HF_HUB_CACHE": str(tmp_path / "srv-hf"),
              "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing answers there
    result = ptm("import", str(bundle), "--json", env=server)
    assert result.returncode == 0, result.stderr
    installed = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(i["kind"] for i in installed) == ["huggingface", "torch.hub"]
    assert (tmp_path / "server-torch" / "hub" / "checkpoints" / name).read_bytes() == data

    opened = ptm("inspect", "timm/test_resnet.r160_in1k", "--weights", "default", env=server)
    assert opened.returncode == 0, opened.stderr
    assert "cached pretrained" in opened.stdout
    for key, value in server.items():
        monkeypatch.setenv(key, value)
    from engine.models import catalog

    assert catalog.model_info("timm/test_resnet.r160_in1k").weights[0].cached


@pytest.mark.parametrize("damage", ["flip", "manifest"])
def test_a_damaged_bundle_installs_nothing(hub, http_server, tmp_path: Path, damage: str) -> None:
    bundle, name, _ = make_bundle(http_server, tmp_path)
    with tarfile.open(bundle) as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=rebuilt, mode="w") as tar:
        for member, content in members:
            if damage == "flip" and member.name.startswith("huggingface/"):
                content = content[:-1] + bytes([content[-1] ^ 1])
            if damage == "manifest" and member.name == "manifest.json":
                manifest = json.loads(content)
                manifest["files"][0]["size"] += 1
                content = json.dumps(manifest).encode()
                member.size = len(content)
            tar.addfile(member, io.BytesIO(content))
    bundle.write_bytes(rebuilt.getvalue())
    server = {"TORCH_HOME": str(tmp_path / "server-torch"), "HF_HUB_CACHE": str(tmp_path / "srv-hf")}
    result = ptm("import", str(bundle), env=server)
    assert result.returncode == 2
    failed = "huggingface/timm/test_resnet.r160_in1k/model.safetensors" if damage == "flip" \
        else f"torch.hub/{name}"
    assert failed in result.stderr and "nothing was installed" in result.stderr
    for folder in ("server-torch", "srv-hf"):
        left = [p for p in (tmp_path / folder).rglob("*") if p.is_file()]
        assert left == [], left
