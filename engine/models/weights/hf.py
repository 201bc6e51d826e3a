"""Files from the Hugging Face Hub, the Hugging Face way: its cache, HF_ENDPOINT, offline mode, token.

Files land in huggingface_hub's cache layout, where timm and transformers look for them (and
theirs are found here); downloads are checked against the Hub's SHA-256 (hub_fetch.py). The
settings are read when a file is asked for, so a changed environment is honoured.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from engine.errors import redact
from engine.models.weights.errors import DownloadFailed
from engine.models.weights.guidance import ways_on

FILES = ("model.safetensors", "pytorch_model.bin")
"""The weights files of a timm repo on the Hub, preferred first."""
_TRUE = ("1", "true", "yes", "on")


def hub_cache() -> Path:
    """Return the Hugging Face cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/..."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def repo_folder(repo: str) -> str:
    """Return the cache folder name of a model repo, as huggingface_hub names it (models--org--name)."""
    return "models--" + repo.replace("/", "--")


OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
"""The variables that ask for the cache only, read as huggingface_hub reads them."""


def offline_flag() -> str | None:
    """Return the name of the variable that asks to use the cache only, or None.

    As huggingface_hub reads them: TRANSFORMERS_OFFLINE counts only where HF_HUB_OFFLINE is unset.
    """
    name = next((flag for flag in OFFLINE_FLAGS if os.environ.get(flag)), None)
    return name if name and os.environ[name].strip().lower() in _TRUE else None


def offline() -> bool:
    """Return whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks to use the cache only."""
    return offline_flag() is not None


def endpoint() -> str:
    """Return the Hub to ask: $HF_ENDPOINT (a mirror) or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def cached_hub_file(repo: str, revision: str = "main") -> Path | None:
    """Return the cached weights file of `repo` at `revision` in the Hugging Face cache, or None."""
    from huggingface_hub import try_to_load_from_cache

    for filename in FILES:
        found = try_to_load_from_cache(repo, filename, cache_dir=hub_cache(), revision=revision)
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def hub_file(repo: str, revision: str = "main", progress: Any = None,
             cancel: threading.Event | None = None) -> Path:
    """Return the weights file of `repo` from the cache, downloading it through huggingface_hub."""
    cached = cached_hub_file(repo, revision)
    if cached is not None:
        return cached
    flag = offline_flag()
    if flag is not None:
        raise DownloadFailed(
            f"cannot get the weights of {repo}",
            f"{flag} is set and they are not in the Hugging Face cache {hub_cache()}",
            f"unset {flag}, set HF_HUB_CACHE/HF_HOME to the cache that has them, or "
            + ways_on(),
        )
    from engine.models.weights.hub_fetch import ask_hub, fetch_hub_file

    missing = []
    for filename in FILES:
        described = ask_hub(endpoint(), repo, filename, revision)
        if described is None:
            missing.append(filename)
            continue
        return fetch_hub_file(hub_cache(), repo_folder(repo), described, filename, revision,
                              progress, cancel)
    raise DownloadFailed(f"{repo} has no weights file on {redact(endpoint())}",
                         f"none of {', '.join(missing)} is there",
                         "check the model name and tag, or HF_ENDPOINT")


def cached_repos() -> set[str]:
    """Return the model repos (org/name) that have a weights file in the Hugging Face cache."""
    found: set[str] = set()
    try:
        entries = list(os.scandir(hub_cache()))
    except OSError:
        return found
    for entry in entries:
        if not entry.name.startswith("models--"):
            continue
        snapshots = Path(entry.path) / "snapshots"
        if any((snapshots / rev / f).is_file() for rev in _listdir(snapshots) for f in FILES):
            found.add(entry.name.removeprefix("models--").replace("--", "/"))
    return found


def _listdir(folder: Path) -> list[str]:
    """Return the names in `folder`, or none when it cannot be read."""
    try:
        return os.listdir(folder)
    except OSError:
        return []
