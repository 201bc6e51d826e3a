"""The manifest of a weights bundle: one schema check (types, lengths, names) before anything is used."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import Any

from engine.errors import BadInput

MANIFEST = "manifest.json"
FORMAT = "ptm-tui weights bundle"
MAX_MANIFEST_BYTES = 8 << 20
MAX_FILES = 10_000
MAX_FILE_BYTES = 1 << 40  # 1 TiB: no weights file is larger
KINDS = ("torch.hub", "huggingface")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,199}")
"""A file name in a cache, a revision or one part of a repo: no separators, no `..`, no controls."""


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


_FIELDS = {f.name for f in fields(BundleFile)}
_REQUIRED = ("kind", "name", "path", "sha256", "size")


def bad_bundle(source: object, why: str) -> BadInput:
    """Return the error for a bundle that cannot be imported."""
    return BadInput(
        f"cannot import {source}",
        f"{why}; nothing was installed",
        "make the bundle with `ptm-tui download MODEL... --bundle weights.tar`",
    )


def parse_manifest(source: object, data: bytes) -> list[BundleFile]:
    """Return the checked entries of a manifest; BadInput naming the entry and field otherwise."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise bad_bundle(source, f"its {MANIFEST} is over {MAX_MANIFEST_BYTES >> 20} MiB")
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        raise bad_bundle(source, f"its {MANIFEST} is not JSON (or nested too deeply)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad_bundle(source, f'its {MANIFEST} is not a ptm-tui bundle manifest (no "format": "{FORMAT}")')
    items = manifest.get("files")
    if not isinstance(items, list) or not items or len(items) > MAX_FILES:
        raise bad_bundle(source, f'its {MANIFEST} needs "files": a list of 1 to {MAX_FILES} entries')
    entries = [_entry(source, number, item) for number, item in enumerate(items, 1)]
    _no_twice(source, entries)
    return entries


def _entry(source: object, number: int, item: Any) -> BundleFile:
    """Return one checked entry."""
    if not isinstance(item, dict):
        raise bad_bundle(source, f"manifest entry {number} is a {type(item).__name__}, not an object")
    label = f"manifest entry {number}"
    if isinstance(item.get("path"), str):
        label += f" ({_shown(item['path'])})"

    def wrong(key: str, want: str) -> BadInput:
        return bad_bundle(source, f"{label}: {key!r} must be {want}, not {_shown(item.get(key))}")

    unknown = sorted(str(k) for k in item if k not in _FIELDS)
    if unknown:
        raise bad_bundle(source, f"{label}: unknown field {_shown(unknown[0])}")
    for key in _REQUIRED:
        if key not in item:
            raise bad_bundle(source, f"{label}: {key!r} is missing")
    for key in _FIELDS - {"size"}:
        value = item.get(key)
        if value is not None and not (isinstance(value, str) and value.isprintable() and len(value) <= 1000):
            raise wrong(key, "text without control characters (at most 1000 characters)")
    size = item["size"]
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_BYTES:
        raise wrong("size", f"a whole number of bytes from 0 to {MAX_FILE_BYTES}")
    if item["kind"] not in KINDS:
        raise wrong("kind", " or ".join(repr(k) for k in KINDS))
    if not _SHA256.fullmatch(item["sha256"] or ""):
        raise wrong("sha256", "64 lowercase hex digits")
    if not _NAME.fullmatch(item["name"] or ""):
        raise wrong("name", "a plain file name (letters, digits, . _ - + =; no / or ..)")
    if not _inside_path(item["path"] or ""):
        raise wrong("path", "a relative path inside the bundle (no leading /, no ..)")
    if item["kind"] == "huggingface":
        repo, revision = item.get("repo") or "", item.get("revision") or ""
        if not (0 < repo.count("/") <= 1 and all(_NAME.fullmatch(p) for p in repo.split("/"))):
            raise wrong("repo", "a Hub repo such as org/name")
        if not _NAME.fullmatch(revision):
            raise wrong("revision", "a commit (letters, digits, . _ -; no / or ..)")
    if ".." in item["name"] or ".." in (item.get("revision") or "") or ".." in (item.get("repo") or ""):
        raise bad_bundle(source, f"{label}: a name, repo or revision holds '..'")
    return BundleFile(**{key: item.get(key) for key in _FIELDS})


def _inside_path(path: str) -> bool:
    """Return whether `path` is a relative path inside the bundle."""
    pure = PurePosixPath(path)
    return (
        bool(pure.parts)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and "\\" not in path
        and path not in (".", MANIFEST)
    )


def _no_twice(source: object, entries: list[BundleFile]) -> None:
    """Refuse two entries with the same file in the bundle or the same place in a cache."""
    paths: set[str] = set()
    places: set[tuple[str, str, str, str]] = set()
    for entry in entries:
        place = (entry.kind, entry.repo or "", entry.revision or "", entry.name)
        if entry.path in paths or place in places:
            raise bad_bundle(source, f"the manifest lists {_shown(entry.path)} twice")
        paths.add(entry.path)
        places.add(place)


def _shown(value: Any) -> str:
    """Return a value as a short, printable repr for a message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
