"""Weights bundles for air-gapped servers: a tar of weights files with a manifest, and its import.

The manifest lists, per file: the model, the weights name, where it came from (URL or Hub
repo and revision), its SHA-256 and size. An import checks every file before installing any,
then moves each into its cache (torch.hub's, or the Hugging Face cache laid out as
huggingface_hub lays it out), so timm, torchvision and ptm-tui all find them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from engine.atomic import atomic_write, atomic_write_text
from engine.errors import BadInput
from engine.models.weights.cache import cache_dir, hash_prefix, sha256_of
from engine.models.weights.hf import hub_cache

MANIFEST = "manifest.json"
FORMAT = "ptm-tui weights bundle"


@dataclass
class BundleFile:
    """One weights file in a bundle, as its manifest describes it."""

    model: str | None
    weights: str | None
    kind: str
    """"torch.hub" (torch.hub's checkpoint cache) or "huggingface" (the Hugging Face cache)."""
    name: str
    """The file's name in its cache, e.g. resnet18-f37072fd.pth or model.safetensors."""
    path: str
    """Where the file sits inside the bundle."""
    sha256: str
    size: int
    source: str | None = None
    repo: str | None = None
    revision: str | None = None


def entry_for(local: Path, kind: str, model: str | None = None, weights: str | None = None,
              source: str | None = None, repo: str | None = None,
              revision: str | None = None) -> BundleFile:
    """Return the manifest entry of a local weights file (hashing it)."""
    inside = f"huggingface/{repo}/{local.name}" if kind == "huggingface" else f"torch.hub/{local.name}"
    return BundleFile(model=model, weights=weights, kind=kind, name=local.name, path=inside,
                      sha256=sha256_of(local), size=local.stat().st_size, source=source,
                      repo=repo, revision=revision)


def write_bundle(out: Path, files: list[tuple[Path, BundleFile]]) -> None:
    """Write a tar of the files with the manifest first, atomically (nothing half-written)."""
    manifest = json.dumps({"format": FORMAT, "version": 1,
                           "files": [asdict(entry) for _, entry in files]}, indent=1).encode()
    with atomic_write(out) as handle, tarfile.open(fileobj=handle, mode="w") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        for local, entry in files:
            tar.add(str(local.resolve()), arcname=entry.path, recursive=False)  # the file, not a link


def import_bundle(source: Path) -> list[dict[str, Any]]:
    """Install every file of a bundle (tar or folder) into its cache; all or nothing."""
    with _opened(source) as (entries, reader):
        staged: list[tuple[BundleFile, Path]] = []
        try:
            for entry in entries:
                staged.append((entry, _stage(source, entry, reader)))
            return [_install(entry, path) for entry, path in staged]
        finally:
            for _, path in staged:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


@contextlib.contextmanager
def _opened(source: Path) -> Iterator[tuple[list[BundleFile], Any]]:
    """Yield the manifest's entries and a function that opens one entry's bytes."""
    if source.is_dir():
        def read_dir(entry: BundleFile) -> IO[bytes]:
            return open(source / _safe(entry.path, source), "rb")

        manifest = source / MANIFEST
        if not manifest.is_file():
            raise _bad(source, f"it has no {MANIFEST}")
        yield _entries(source, manifest.read_bytes()), read_dir
        return
    try:
        tar = tarfile.open(source, mode="r:*")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as error:
        raise _bad(source, f"it is not a readable tar file ({error})") from None
    with tar:
        def read_tar(entry: BundleFile) -> IO[bytes]:
            try:
                member = tar.getmember(_safe(entry.path, source))
            except KeyError:
                raise _bad(source, f"{entry.path} is listed in the manifest but missing") from None
            handle = tar.extractfile(member) if member.isreg() else None
            if handle is None:
                raise _bad(source, f"{entry.path} is not a regular file")
            return handle

        try:
            manifest = tar.extractfile(MANIFEST)
        except KeyError:
            manifest = None
        if manifest is None:
            raise _bad(source, f"it has no {MANIFEST}")
        yield _entries(source, manifest.read()), read_tar


def _entries(source: Path, data: bytes) -> list[BundleFile]:
    """Return the entries of a manifest, refusing one that is not ours."""
    try:
        manifest = json.loads(data)
        assert manifest.get("format") == FORMAT
        entries = [BundleFile(**item) for item in manifest["files"]]
    except Exception:
        raise _bad(source, f"its {MANIFEST} is not a ptm-tui bundle manifest") from None
    for entry in entries:
        if entry.kind not in ("torch.hub", "huggingface") or "/" in entry.name \
                or entry.name in ("", ".", ".."):
            raise _bad(source, f"the manifest entry {entry.path} is malformed")
        if entry.kind == "huggingface" and not (entry.repo and entry.revision):
            raise _bad(source, f"the manifest entry {entry.path} names no repo and revision")
    return entries


def _safe(inside: str, source: Path) -> str:
    """Return a path inside the bundle, refusing absolute paths and `..`."""
    parts = PurePosixPath(inside).parts
    if not parts or PurePosixPath(inside).is_absolute() or ".." in parts:
        raise _bad(source, f"the manifest names an unsafe path {inside!r}")
    return inside


def _stage(source: Path, entry: BundleFile, read: Any) -> Path:
    """Copy one file next to its cache, checking its size and SHA-256; return the staged path."""
    home = _home(entry)
    home.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".import", dir=home)
    staged = Path(name)
    digest, size = hashlib.sha256(), 0
    try:
        with read(entry) as src, os.fdopen(fd, "wb") as out:
            while block := src.read(1 << 20):
                digest.update(block)
                size += len(block)
                out.write(block)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    prefix = hash_prefix(entry.name) if entry.kind == "torch.hub" else None
    why = ""
    if size != entry.size:
        why = f"it has {size} bytes, the manifest says {entry.size}"
    elif digest.hexdigest() != entry.sha256:
        why = f"its SHA-256 is {digest.hexdigest()[:16]}..., the manifest says {entry.sha256[:16]}..."
    elif prefix and not entry.sha256.startswith(prefix):
        why = f"its SHA-256 does not start with {prefix}, as its name promises"
    if why:
        staged.unlink(missing_ok=True)
        raise BadInput(f"{entry.path} in {source} failed the check", f"{why}; nothing was installed",
                       "make the bundle again on the machine with internet and copy it over")
    return staged


def _home(entry: BundleFile) -> Path:
    """Return the folder the entry's file is staged in (the same disk as where it goes)."""
    if entry.kind == "torch.hub":
        return cache_dir()
    return _repo_dir(entry.repo or "") / "blobs"


def _repo_dir(repo: str) -> Path:
    """Return the Hugging Face cache folder of a model repo (models--org--name)."""
    return hub_cache() / ("models--" + repo.replace("/", "--"))


def _install(entry: BundleFile, staged: Path) -> dict[str, Any]:
    """Move a checked file into its cache and return what was installed."""
    if entry.kind == "torch.hub":
        target = cache_dir() / entry.name
        os.replace(staged, target)
    else:  # the layout huggingface_hub writes: blobs/<etag>, snapshots/<rev>/<file>, refs/main
        repo_dir = _repo_dir(entry.repo or "")
        blob = repo_dir / "blobs" / entry.sha256
        os.replace(staged, blob)
        target = repo_dir / "snapshots" / str(entry.revision) / entry.name
        target.parent.mkdir(parents=True, exist_ok=True)
        link = target.with_name(f".{entry.name}.link")
        link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(blob, target.parent), link)
        os.replace(link, target)
        atomic_write_text(repo_dir / "refs" / "main", str(entry.revision))
    return {"model": entry.model, "weights": entry.weights, "kind": entry.kind,
            "path": str(target), "bytes": entry.size, "sha256": entry.sha256}


def _bad(source: Path, why: str) -> BadInput:
    """Return the error for a bundle that cannot be imported."""
    return BadInput(f"cannot import {source}", f"{why}; nothing was installed",
                    "make the bundle with `ptm-tui download MODEL... --bundle weights.tar`")


def copy_atomic(source: Path, target: Path) -> None:
    """Copy a file to `target` atomically."""
    with open(source, "rb") as src, atomic_write(target) as out:
        shutil.copyfileobj(src, out, 1 << 20)
