"""Weight folders: a model's file found by name in a folder, and PTM_WEIGHTS_PATH's folders."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from engine.errors import BadInput
from engine.models.weights.cache import hash_matches, hash_prefix
from engine.models.weights.checks import is_weights_file

PATH_ENV = "PTM_WEIGHTS_PATH"
SUFFIXES = (".pth", ".pt", ".safetensors", ".bin")
_HUB_NAME = re.compile(r"^(?P<stem>.+)-[0-9a-f]{6,64}(?P<suffix>\.[a-z]+)$")


def search_path() -> list[Path]:
    """Return the folders listed in $PTM_WEIGHTS_PATH (dir1:dir2), in order."""
    value = os.environ.get(PATH_ENV, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def find_on_path(file_name: str) -> Path | None:
    """Return the first file named exactly `file_name` in $PTM_WEIGHTS_PATH, hash-checked, or None."""
    for folder in search_path():
        path = folder / file_name
        if is_weights_file(path):
            refuse_if_altered(path)
            return path
    return None


_CHECKED: set[tuple[str, int, int]] = set()
"""Files already found intact, by (path, size, mtime): a second open does not hash them again."""


def refuse_if_altered(path: Path) -> None:
    """Raise BadInput when a file's SHA-256 does not start with the prefix its name carries."""
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    if key in _CHECKED:
        return
    if hash_matches(path) is not False:
        _CHECKED.add(key)
        return
    raise BadInput(
        f"refused {path}",
        f"its SHA-256 does not start with {hash_prefix(path.name)}, as its name promises: "
        "the file is damaged or is another file under this name",
        f"replace it with the real file (ptm-tui download MODEL --dest {path.parent})",
    )


def find_in_folder(folder: Path, model: str, upstream: Iterable[str] = ()) -> Path:
    """Return the one weights file of `model` in `folder` (hash-checked); BadInput if none or two."""
    found = candidates(folder, model, upstream)
    if not found:
        wanted = _wanted(model)
        raise BadInput(
            f"no weights file for {model} in {folder}",
            f"looked for {wanted}",
            f"download it there with `ptm-tui download {model} --dest {folder}`, or give the file",
        )
    if len(found) > 1:
        names = " and ".join(str(path.name) for path in found[:2])
        more = f" (and {len(found) - 2} more)" if len(found) > 2 else ""
        raise BadInput(f"two weights files for {model} in {folder}", f"{names}{more} both match",
                       "give the file itself with --weights FILE")
    refuse_if_altered(found[0])
    return found[0]


def candidates(folder: Path, model: str, upstream: Iterable[str] = ()) -> list[Path]:
    """Return the files in `folder` that are `model`'s weights by name, sorted."""
    stem = model.removeprefix("timm/")
    exact = set(upstream)
    timm = model.startswith("timm/")
    found: set[Path] = set()
    try:
        entries = list(os.scandir(folder))
    except OSError as error:
        raise BadInput(f"cannot read the folder {folder}", error.strerror or str(error),
                       "give a folder you can read") from None
    for entry in entries:
        path = Path(entry.path)
        if timm and entry.name == stem and _is_folder(entry):  # a Hub-style folder: arch.tag/
            found.update(p for p in (path / "model.safetensors", path / "pytorch_model.bin")
                         if is_weights_file(p))
            continue
        if not is_weights_file(path) or not entry.name.endswith(SUFFIXES):
            continue
        match = _HUB_NAME.match(entry.name)  # resnet18-<hash>.pth, as torch.hub names it
        if entry.name in exact or (match and match.group("stem") == stem) \
                or Path(entry.name).stem == stem:  # timm: convnext_tiny.fb_in1k.safetensors
            found.add(path)
    return sorted(found)


def _is_folder(entry: os.DirEntry[str]) -> bool:
    """Return whether a folder entry is a folder; False for a link loop or a dangling link."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _wanted(model: str) -> str:
    """Return the file names searched for `model`, in words."""
    stem = model.removeprefix("timm/")
    if model.startswith("timm/"):
        return f"{stem}.safetensors (or .pth/.bin) or {stem}/model.safetensors"
    return f"{stem}-<sha256 prefix>.pth or .safetensors (as torch.hub names it)"
