"""Hostile weights bundles (issue 18): nothing lands outside the caches, nothing half-installed, no hang.

Each bundle is built here by hand, the way an attacker would, and imported through
`ptm-tui import` (exit code and message) or the engine (what is left on disk).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

ROOT = Path(__file__).resolve().parents[2]
DATA = b"weights bytes " * 100
SHA = hashlib.sha256(DATA).hexdigest()
HUB_NAME = f"tiny-{SHA[:8]}.pth"



def hub_entry(**change: Any) -> dict[str, Any]:
    """Return a valid torch.hub manifest entry for DATA, with `change` applied."""
    entry = {
        "model": "tiny",
        "weights": None,
        "kind": "torch.hub",
        "name": HUB_NAME,
        "path": f"torch.hub/{HUB_NAME}",
        "sha256": SHA,
        "size": len(DATA),
    }
    return {**entry, **change}


def hf_entry(**change: Any) -> dict[str, Any]:
    """Return a valid huggingface manifest entry for DATA, with `change` applied."""
    entry = {
        "model": "timm/x",
        "weights": None,
        "kind": "huggingface",
        "name": "model.safetensors",
        "path": "huggingface/org/x/model.safetensors",
        "sha256": SHA,
        "size": len(DATA),
        "repo": "org/x",
        "revision": "0" * 40,
    }
    return {**entry, **change}


def make_tar(
    path: Path, entries: list[Any], members: dict[str, bytes] | None = None, manifest: Any = None
) -> Path:
    """Write a bundle tar: the manifest first, then `members` (default: DATA at each entry's path)."""
    if members is None:
        members = {e["path"]: DATA for e in entries if isinstance(e, dict) and "path" in e}
    if manifest is None:
        manifest = {"format": "ptm-tui weights bundle", "version": 1, "files": entries}
    text = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in {"manifest.json": text, **members}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def caches(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """Fresh torch.hub and Hugging Face caches under tmp_path/home; return their environment."""
    env = {
        "TORCH_HOME": str(tmp_path / "home" / "torch"),
        "HF_HUB_CACHE": str(tmp_path / "home" / "hf" / "hub"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_HOME", raising=False)
    return env


def files_under(folder: Path) -> list[str]:
    """Return every path (files, links, folders) under `folder`, relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_refused(result: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> None:
    """Assert a clear refusal: the exit code, the words in the message, and no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


# --- 1. nothing is written outside the caches ------------------------------------------------


@pytest.mark.parametrize("field", ["revision", "revision-absolute", "repo", "name"])
def test_a_name_that_leads_outside_the_cache_is_refused(tmp_path: Path, caches, field: str) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    victim = home / "bashrc"
    victim.write_text("alias ls='ls --color'\n")
    snapshots = Path(caches["HF_HUB_CACHE"]) / "models--org--x" / "snapshots"
    change = {
        "revision": {"revision": os.path.relpath(home, snapshots), "name": "bashrc"},
        "revision-absolute": {"revision": str(home), "name": "bashrc"},
        "repo": {"repo": "../../../../x"},
        "name": {"name": "../../../bashrc"},
    }[field]
    bundle = make_tar(tmp_path / "evil.tar", [hf_entry(**change)])
    result = ptm("import", str(bundle), env=caches)
    assert_refused(result, "manifest entry 1", f"'{field.split('-')[0]}'", "nothing was installed")
    assert victim.read_text() == "alias ls='ls --color'\n" and not victim.is_symlink()
    assert files_under(home) == ["bashrc"]  # no cache folder was even created


def test_the_revision_attack_of_the_report_no_longer_replaces_a_file(tmp_path: Path, caches) -> None:
    from engine.errors import BadInput
    from engine.models.weights.bundle import import_bundle

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "bashrc").write_text("mine\n")
    bundle = make_tar(tmp_path / "evil.tar", [hf_entry(revision=str(victim), name="bashrc")])
    with pytest.raises(BadInput, match="revision"):
        import_bundle(bundle)
    assert (victim / "bashrc").read_text() == "mine\n"
    assert files_under(tmp_path / "home") == []


def test_a_cache_inside_check_catches_a_name_that_passed_the_schema(tmp_path: Path) -> None:
    from engine.errors import BadInput
    from engine.models.weights.cache_tx import CacheChange

    root = tmp_path / "cache"
    (root / "models--a").mkdir(parents=True)
    (root / "models--a" / "snapshots").symlink_to(tmp_path)  # a link inside leads out
    change = CacheChange()
    with pytest.raises(BadInput, match="leads outside the cache"):
        change.inside(root, "models--a", "snapshots", "rev", "file")
    assert change.inside(root, "models--a", "blobs", "f") == root.resolve() / "models--a/blobs/f"


# --- schema: wrong types and values give a message, never a traceback -------------------------


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (hub_entry(name=7), ["'name'", "text"]),
        (hub_entry(path=["a"]), ["'path'"]),
        (hub_entry(sha256=12345), ["'sha256'"]),
        (hub_entry(size="1400"), ["'size'", "whole number"]),
        (hub_entry(size=True), ["'size'"]),
        (hub_entry(size=-1), ["'size'"]),
        (hub_entry(name="tiny\x00.pth"), ["'name'", "control"]),
        (hub_entry(path="/etc/passwd"), ["'path'", "relative"]),
        (hub_entry(path="torch.hub/../../x"), ["'path'"]),
        (hub_entry(kind="pip"), ["'kind'"]),
        (hf_entry(revision=None), ["'revision'"]),
        (hf_entry(repo="org/x/../../y"), ["'repo'"]),
        ({"kind": "torch.hub"}, ["'name' is missing"]),
        ("a string", ["manifest entry 1 is a str"]),
    ],
    ids=lambda v: repr(v)[:30] if not isinstance(v, list) else "",
)
def test_a_malformed_manifest_entry_is_named(tmp_path: Path, caches, entry: Any, words: list[str]) -> None:
    from engine.errors import BadInput
    from engine.models.weights.bundle import import_bundle

    bundle = make_tar(tmp_path / "bad.tar", [entry], members={})
    with pytest.raises(BadInput) as raised:
        import_bundle(bundle)
    assert raised.value.exit_code == 2
    for word in ["manifest entry 1", *words]:
        assert word in raised.value.message, raised.value.message
    assert files_under(tmp_path / "home") == []


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (b"[" * 100_000, ["not JSON", "nested"]),
        (b"\xff\xfe not utf-8", ["not JSON"]),
        ({"format": "other"}, ["not a ptm-tui bundle manifest"]),
        ({"format": "ptm-tui weights bundle", "files": {}}, ['"files"']),
        ({"format": "ptm-tui weights bundle", "files": []}, ['"files"']),
    ],
    ids=["deep", "binary", "format", "files-dict", "files-empty"],
)
def test_a_manifest_that_is_not_ours_is_refused(
    tmp_path: Path, caches, manifest: Any, words: list[str]
) -> None:
    bundle = make_tar(tmp_path / "bad.tar", [], members={}, manifest=manifest)
    result = ptm("import", str(bundle), env=caches)
    assert_refused(result, *words)


def test_two_entries_for_the_same_target_are_refused(tmp_path: Path, caches) -> None:
    from engine.errors import BadInput
    from engine.models.weights.bundle import import_bundle

    bundle = make_tar(
        tmp_path / "b.tar",
        [hub_entry(), hub_entry(path="torch.hub/again.pth")],
        members={f"torch.hub/{HUB_NAME}": DATA, "torch.hub/again.pth": DATA},
    )
    with pytest.raises(BadInput, match="twice"):
        import_bundle(bundle)


def test_a_truncated_tar_is_refused_and_leaves_nothing(tmp_path: Path, caches) -> None:
    big = os.urandom(300_000)
    entry = hub_entry(
        sha256=hashlib.sha256(big).hexdigest(),
        size=len(big),
        name=f"tiny-{hashlib.sha256(big).hexdigest()[:8]}.pth",
    )
    entry["path"] = f"torch.hub/{entry['name']}"
    bundle = make_tar(tmp_path / "b.tar", [entry], members={entry["path"]: big})
    bundle.write_bytes(bundle.read_bytes()[:150_000])
    result = ptm("import", str(bundle), env=caches)
    assert_refused(result, "truncated or damaged", "nothing was installed")
    assert files_under(Path(caches["TORCH_HOME"])) in ([], ["hub"], ["hub", "hub/checkpoints"]) and not list(
        Path(caches["TORCH_HOME"]).rglob("*.import")
    )
    assert files_under(tmp_path / "home") == []


def test_a_target_that_is_a_folder_is_named(tmp_path: Path, caches, torch_home: Path) -> None:
    (Path(caches["TORCH_HOME"]) / "hub" / "checkpoints" / HUB_NAME).mkdir(parents=True)
    result = ptm("import", str(make_tar(tmp_path / "b.tar", [hub_entry()])), env=caches)
    assert_refused(result, "folder", HUB_NAME)
    assert (Path(caches["TORCH_HOME"]) / "hub" / "checkpoints" / HUB_NAME).is_dir()


# --- 2. all or nothing, bounded -------------------------------------------------------------


def test_a_failing_second_entry_removes_the_first_and_every_temp_file(tmp_path: Path, caches) -> None:
    from engine.errors import BadInput
    from engine.models.weights.bundle import import_bundle

    bad = hf_entry()
    bundle = make_tar(
        tmp_path / "b.tar",
        [hub_entry(), bad],
        members={f"torch.hub/{HUB_NAME}": DATA, bad["path"]: DATA[:-1] + b"!"},
    )
    with pytest.raises(BadInput, match="failed the check"):
        import_bundle(bundle)
    assert files_under(tmp_path / "home") == []  # no file, link, .import, .link or folder


def test_a_failure_puts_back_the_file_an_entry_had_replaced(tmp_path: Path, caches) -> None:
    from engine.errors import BadInput
    from engine.models.weights.bundle import import_bundle

    checkpoints = Path(caches["TORCH_HOME"]) / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / HUB_NAME).write_bytes(b"the user's own file")
    bad = hf_entry()
    bundle = make_tar(
        tmp_path / "b.tar",
        [hub_entry(), bad],
        members={f"torch.hub/{HUB_NAME}": DATA, bad["path"]: b"x" * len(DATA)},
    )
    with pytest.raises(BadInput):
        import_bundle(bundle)
    assert files_under(checkpoints) == [HUB_NAME]
    assert (checkpoints / HUB_NAME).read_bytes() == b"the user's own file"
    assert not (tmp_path / "home" / "hf").exists()


def test_an_install_that_succeeds_leaves_no_temp_files(tmp_path: Path, caches) -> None:
    from engine.models.weights.bundle import import_bundle

    checkpoints = Path(caches["TORCH_HOME"]) / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / HUB_NAME).write_bytes(b"older copy")
    installed = import_bundle(make_tar(tmp_path / "b.tar", [hub_entry(), hf_entry()]))
    assert len(installed) == 2
    assert files_under(checkpoints) == [HUB_NAME] and (checkpoints / HUB_NAME).read_bytes() == DATA
    repo = Path(caches["HF_HUB_CACHE"]) / "models--org--x"
    assert files_under(repo) == [
        "blobs",
        f"blobs/{SHA}",
        "refs",
        "refs/main",
        "snapshots",
        f"snapshots/{'0' * 40}",
        f"snapshots/{'0' * 40}/model.safetensors",
    ]
    assert (repo / "snapshots" / ("0" * 40) / "model.safetensors").read_bytes() == DATA


def sparse_bundle(tmp_path: Path, declared: int, gzip: bool = True) -> Path:
    """Return a tar(.gz) made by GNU tar whose member is a 2 GiB sparse file (a few bytes on disk)."""
    if shutil.which("tar") is None:
        pytest.skip("GNU tar is needed to make a sparse member")
    folder = tmp_path / "make"
    (folder / "torch.hub").mkdir(parents=True)
    with open(folder / "torch.hub" / HUB_NAME, "wb") as handle:
        handle.truncate(2 << 30)
    manifest = {"format": "ptm-tui weights bundle", "version": 1, "files": [hub_entry(size=declared)]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / ("big.tar.gz" if gzip else "big.tar")
    subprocess.run(
        [
            "tar",
            "-S",
            "-czf" if gzip else "-cf",
            str(out),
            "-C",
            str(folder),
            "manifest.json",
            f"torch.hub/{HUB_NAME}",
        ],
        check=True,
    )
    shutil.rmtree(folder)
    return out


def test_a_2_gib_member_stops_at_the_declared_size(tmp_path: Path, caches) -> None:
    bundle = sparse_bundle(tmp_path, declared=len(DATA))
    assert bundle.stat().st_size < 1 << 20
    started = time.monotonic()
    result = ptm("import", str(bundle), env=caches)
    assert_refused(result, f"{2 << 30} bytes, the manifest says {len(DATA)}")
    assert time.monotonic() - started < 60
    assert files_under(tmp_path / "home") == []


def test_no_space_for_the_declared_sizes_says_so_before_staging(tmp_path: Path, caches) -> None:
    free = shutil.disk_usage(tmp_path).free
    if free + (1 << 30) > 1 << 40:
        pytest.skip("this disk has more than 1 TiB free")
    bundle = make_tar(tmp_path / "b.tar", [hub_entry(size=free + (1 << 30))])
    result = ptm("import", str(bundle), env=caches)
    assert_refused(result, "no space left", "nothing was installed", code=1)
    assert files_under(tmp_path / "home") == []


def test_a_write_that_fails_midway_leaves_the_caches_as_they_were(tmp_path: Path, caches) -> None:
    import resource

    big = os.urandom(3 << 20)
    entry = hub_entry(
        sha256=hashlib.sha256(big).hexdigest(),
        size=len(big),
        name=f"tiny-{hashlib.sha256(big).hexdigest()[:8]}.pth",
    )
    entry["path"] = f"torch.hub/{entry['name']}"
    bundle = make_tar(
        tmp_path / "b.tar", [hf_entry(), entry], members={hf_entry()["path"]: DATA, entry["path"]: big}
    )

    def small_files() -> None:  # the file system refuses files over 1 MiB (as a full disk would)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    result = ptm("import", str(bundle), env=caches, preexec_fn=small_files)
    assert_refused(result, "cannot write", "the caches are as they were", code=1)
    assert files_under(tmp_path / "home") == []


@pytest.mark.parametrize("kind", ["fifo", "socket", "dev-zero", "link-to-dev-zero-inside"])
def test_a_folder_bundle_naming_a_fifo_socket_or_device_is_refused_without_reading(
    tmp_path: Path, caches, kind: str
) -> None:
    folder = tmp_path / "bundle"
    (folder / "torch.hub").mkdir(parents=True)
    target = folder / "torch.hub" / HUB_NAME
    keep: list[socket.socket] = []
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        keep.append(server)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    else:
        os.mkfifo(folder / "pipe")
        target.symlink_to(folder / "pipe")
    (folder / "manifest.json").write_text(
        json.dumps({"format": "ptm-tui weights bundle", "version": 1, "files": [hub_entry()]})
    )
    result = ptm("import", str(folder), env=caches)
    words = {
        "fifo": "named pipe",
        "socket": "socket",
        "dev-zero": "outside the bundle folder",
        "link-to-dev-zero-inside": "named pipe",
    }[kind]
    assert_refused(result, HUB_NAME, words)
    assert files_under(tmp_path / "home") == []
    for item in keep:
        item.close()


def test_a_folder_bundle_whose_manifest_is_a_fifo_does_not_hang(tmp_path: Path, caches) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    os.mkfifo(folder / "manifest.json")
    assert_refused(ptm("import", str(folder), env=caches), "named pipe")


def test_many_files_the_manifest_does_not_list_stop_the_import(tmp_path: Path, caches) -> None:
    from engine.errors import BadInput
    from engine.models.weights.bundle import import_bundle

    manifest = json.dumps({"format": "ptm-tui weights bundle", "version": 1, "files": [hub_entry()]}).encode()
    bundle = tmp_path / "padded.tar.gz"
    with tarfile.open(bundle, "w:gz", compresslevel=1) as tar:
        members = {
            "manifest.json": manifest,
            **{f"pad/{i}": bytes(1 << 20) for i in range(20)},
            f"torch.hub/{HUB_NAME}": DATA,
        }
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BadInput, match="which its manifest does not list"):
        import_bundle(bundle)
    assert files_under(tmp_path / "home") == []
