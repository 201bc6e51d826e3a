"""Weights bundles for air-gapped servers: a tar of weights files with a manifest, and its import.

The manifest lists, per file: the model, the weights name, where it came from (URL or Hub
repo and revision), its SHA-256 and size. An import checks every file before installing any,
then moves each into its cache (torch.hub's, or the Hugging Face cache laid out as
huggingface_hub lays it out), so timm, torchvision and ptm-tui all find them. It is all or
nothing: every target stays inside its cache, reads stop at the sizes the manifest declares,
and a failure removes whatever the import had staged or installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from engine.atomic import atomic_write
from engine.errors import BadInput, WorkFailed, redact
from engine.models.weights.bundle_manifest import (
    FORMAT,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    BundleFile,
    bad_bundle,
    parse_manifest,
)
from engine.models.weights.cache import cache_dir, hash_prefix, sha256_of
from engine.models.weights.cache_tx import CacheChange, cache_change, cache_error
from engine.models.weights.checks import what_it_is
from engine.models.weights.hf import hub_cache, repo_folder

__all__ = ["MANIFEST", "BundleFile", "copy_atomic", "entry_for", "import_bundle", "write_bundle"]

CHUNK = 1 << 20
UNLISTED_LIMIT = 16 << 20
"""Tar members the manifest does not list are skipped up to this many bytes in all."""
_READ_ERRORS = (OSError, EOFError, tarfile.TarError, zlib.error, ValueError)


def entry_for(
    local: Path,
    kind: str,
    model: str | None = None,
    weights: str | None = None,
    source: str | None = None,
    repo: str | None = None,
    revision: str | None = None,
) -> BundleFile:
    """Return the manifest entry of a local weights file (hashing it)."""
    inside = f"huggingface/{repo}/{local.name}" if kind == "huggingface" else f"torch.hub/{local.name}"
    return BundleFile(
        model=model,
        weights=weights,
        kind=kind,
        name=local.name,
        path=inside,
        sha256=sha256_of(local),
        size=local.stat().st_size,
        source=redact(source) if source else None,
        repo=repo,
        revision=revision,
    )


def write_bundle(out: Path, files: list[tuple[Path, BundleFile]]) -> None:
    """Write a tar of the files with the manifest first, atomically (nothing half-written)."""
    manifest = json.dumps(
        {"format": FORMAT, "version": 1, "files": [asdict(entry) for _, entry in files]}, indent=1
    ).encode()
    with atomic_write(out) as handle, tarfile.open(fileobj=handle, mode="w") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        for local, entry in files:
            tar.add(str(local.resolve()), arcname=entry.path, recursive=False)  # the file, not a link


@dataclass
class _Plan:
    """Where one entry is staged and installed, every path checked to be inside its cache."""

    entry: BundleFile
    stage_dir: Path
    target: Path
    blob: Path | None = None
    ref: Path | None = None
    staged: Path | None = None


def import_bundle(source: Path) -> list[dict[str, Any]]:
    """Install every file of a bundle (tar or folder) into its cache; all or nothing."""
    with cache_change() as change:
        plans = _import_folder(change, source) if source.is_dir() else _import_tar(change, source)
        return [_install(change, plan) for plan in plans]


def _import_folder(change: CacheChange, source: Path) -> list[_Plan]:
    """Stage every entry of an unpacked bundle folder; return the plans."""
    root = source.resolve()
    plans = _plans(change, source, _read_manifest_file(source, root / MANIFEST))
    for plan in plans:
        path = root / plan.entry.path
        if not path.resolve().is_relative_to(root):
            raise bad_bundle(source, f"{plan.entry.path} leads outside the bundle folder")
        with _open_regular(source, path, plan.entry) as handle:
            _stage(change, source, plan, handle)
    return plans


def _read_manifest_file(source: Path, path: Path) -> list[BundleFile]:
    """Return the entries of a folder bundle's manifest, read only when it is a small regular file."""
    try:
        info = os.stat(path)
    except OSError:
        raise bad_bundle(source, f"it has no {MANIFEST}") from None
    if not stat.S_ISREG(info.st_mode):
        raise bad_bundle(source, f"its {MANIFEST}: {what_it_is(path)}")
    if info.st_size > MAX_MANIFEST_BYTES:
        raise bad_bundle(source, f"its {MANIFEST} is over {MAX_MANIFEST_BYTES >> 20} MiB")
    with open(path, "rb") as handle:
        return parse_manifest(source, handle.read(MAX_MANIFEST_BYTES + 1))


def _open_regular(source: Path, path: Path, entry: BundleFile) -> IO[bytes]:
    """Open a bundle file for reading, refusing FIFOs, devices and sockets before opening them."""
    try:
        info = os.stat(path)
    except OSError:
        raise bad_bundle(source, f"{entry.path} is listed in the manifest but {what_it_is(path)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise bad_bundle(source, f"{entry.path}: {what_it_is(path)}")
    if info.st_size != entry.size:
        raise _failed_check(source, entry, f"it has {info.st_size} bytes, the manifest says {entry.size}")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else meanwhile
        os.close(fd)
        raise bad_bundle(source, f"{entry.path} is not a regular file")
    return os.fdopen(fd, "rb")


def _import_tar(change: CacheChange, source: Path) -> list[_Plan]:
    """Stage every entry of a bundle tar, read once from start to end; return the plans."""
    try:
        tar = tarfile.open(source, mode="r|*")  # noqa: SIM115 - closed by the with below
    except _READ_ERRORS as error:
        raise bad_bundle(source, f"it is not a readable tar file ({error})") from None
    try:
        with tar:
            return _stage_members(change, source, tar)
    except _READ_ERRORS as error:  # writes raise WorkFailed, so these are the bundle's reads
        raise bad_bundle(
            source, f"the tar is truncated or damaged ({type(error).__name__}: {str(error)[:120]})"
        ) from None


def _stage_members(change: CacheChange, source: Path, tar: tarfile.TarFile) -> list[_Plan]:
    """Stage the members of `tar` named by its manifest (the first member)."""
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isreg():
        raise bad_bundle(source, f"it does not start with {MANIFEST} (not made by ptm-tui download)")
    if first.size > MAX_MANIFEST_BYTES:
        raise bad_bundle(source, f"its {MANIFEST} is over {MAX_MANIFEST_BYTES >> 20} MiB")
    handle = tar.extractfile(first)
    assert handle is not None
    plans = _plans(change, source, parse_manifest(source, handle.read(MAX_MANIFEST_BYTES + 1)))
    waiting = {plan.entry.path: plan for plan in plans}
    skipped = 0
    for member in tar:
        plan = waiting.pop(member.name, None)
        if plan is None:
            skipped += member.size if member.isreg() else 0
            if skipped <= UNLISTED_LIMIT:
                continue
            raise bad_bundle(source, f"it holds {member.name!r}, which its manifest does not list")
        if not member.isreg():
            raise bad_bundle(source, f"{member.name} is not a regular file")
        if member.size != plan.entry.size:
            raise _failed_check(
                source, plan.entry, f"it has {member.size} bytes, the manifest says {plan.entry.size}"
            )
        data = tar.extractfile(member)
        assert data is not None
        _stage(change, source, plan, data)
    if waiting:
        raise bad_bundle(source, f"{next(iter(waiting))} is listed in the manifest but missing")
    return plans


def _plans(change: CacheChange, source: Path, entries: list[BundleFile]) -> list[_Plan]:
    """Return where each entry goes (checked inside its cache), after checking there is room."""
    plans = [_plan(change, entry) for entry in entries]
    for plan in plans:
        if plan.target.is_dir() and not plan.target.is_symlink():
            raise bad_bundle(source, f"{plan.entry.path}: the cache has a folder at {plan.target}")
    _check_room(plans)
    return plans


def _plan(change: CacheChange, entry: BundleFile) -> _Plan:
    """Return the staging folder and targets of one entry, all resolved inside their cache."""
    what = f"the manifest entry {entry.path!r}"
    if entry.kind == "torch.hub":
        root = cache_dir()
        target = change.inside(root, entry.name, what=f"{what} ('name')")
        return _Plan(entry, target.parent, target)
    root, repo = hub_cache(), repo_folder(entry.repo or "")
    blob = change.inside(root, repo, "blobs", entry.sha256, what=f"{what} ('repo')")
    target = change.inside(
        root, repo, "snapshots", str(entry.revision), entry.name, what=f"{what} ('revision' or 'name')"
    )
    ref = change.inside(root, repo, "refs", "main", what=f"{what} ('repo')")
    return _Plan(entry, blob.parent, target, blob=blob, ref=ref)


def _check_room(plans: list[_Plan]) -> None:
    """Raise WorkFailed ("no space left") when a disk cannot hold the declared sizes staged on it."""
    needed: dict[int, tuple[Path, int]] = {}
    for plan in plans:
        at = plan.stage_dir
        while not at.exists() and at != at.parent:
            at = at.parent
        device = at.stat().st_dev
        needed[device] = (at, needed.get(device, (at, 0))[1] + plan.entry.size)
    for at, size in needed.values():
        free = shutil.disk_usage(at).free
        if size > free:
            raise WorkFailed(f"cannot import into {at}",
                             f"no space left for it: the bundle needs {size / 1e6:.1f} MB there, "
                             f"{free / 1e6:.1f} MB is free",
                             "free some disk space (or point TORCH_HOME / HF_HOME at a disk with "
                             "room) and run again; nothing was installed")


def _stage(change: CacheChange, source: Path, plan: _Plan, src: IO[bytes]) -> None:
    """Copy one file next to its target, reading at most its declared size; check size and SHA-256."""
    entry = plan.entry
    folder = change.folder(plan.stage_dir)
    fd, staged = change.temp(folder, entry.name, ".import")
    digest, size = hashlib.sha256(), 0
    with src, os.fdopen(fd, "wb") as out:
        while size <= entry.size:
            try:
                block = src.read(min(CHUNK, entry.size + 1 - size))
            except _READ_ERRORS as error:
                raise bad_bundle(
                    source,
                    f"{entry.path} cannot be read ({type(error).__name__}: "
                    f"{str(error)[:120]}); the bundle is truncated or damaged",
                ) from None
            if not block:
                break
            digest.update(block)
            size += len(block)
            try:
                out.write(block)
            except OSError as error:
                raise cache_error(staged, error) from None
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as error:
            raise cache_error(staged, error) from None
    prefix = hash_prefix(entry.name) if entry.kind == "torch.hub" else None
    why = ""
    if size != entry.size:
        more = "more than" if size > entry.size else str(size)
        why = f"it has {more} bytes, the manifest says {entry.size}"
    elif digest.hexdigest() != entry.sha256:
        why = f"its SHA-256 is {digest.hexdigest()[:16]}..., the manifest says {entry.sha256[:16]}..."
    elif prefix and not entry.sha256.startswith(prefix):
        why = f"its SHA-256 does not start with {prefix}, as its name promises"
    if why:
        raise _failed_check(source, entry, why)
    plan.staged = staged


def _failed_check(source: Path, entry: BundleFile, why: str) -> BadInput:
    """Return the error for a bundle file that is not what its manifest says."""
    return BadInput(
        f"{entry.path} in {source} failed the check",
        f"{why}; nothing was installed",
        "make the bundle again on the machine with internet and copy it over",
    )


def _install(change: CacheChange, plan: _Plan) -> dict[str, Any]:
    """Move a checked file into its cache and return what was installed."""
    entry, staged = plan.entry, plan.staged
    assert staged is not None
    if plan.blob is None:
        change.put(staged, plan.target)
    else:  # the layout huggingface_hub writes: blobs/<sha256>, snapshots/<rev>/<file>, refs/main
        change.put(staged, plan.blob)
        change.link(plan.blob, change.folder(plan.target.parent) / plan.target.name)
        assert plan.ref is not None
        change.folder(plan.ref.parent)
        change.text(plan.ref, str(entry.revision))
    return {
        "model": entry.model,
        "weights": entry.weights,
        "kind": entry.kind,
        "path": str(plan.target),
        "bytes": entry.size,
        "sha256": entry.sha256,
    }


def copy_atomic(source: Path, target: Path) -> None:
    """Copy a file to `target` atomically."""
    with open(source, "rb") as src, atomic_write(target) as out:
        shutil.copyfileobj(src, out, CHUNK)
