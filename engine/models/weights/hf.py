"""Files from the Hugging Face Hub, the Hugging Face way: its cache, HF_ENDPOINT, offline mode, token.

Everything goes through `huggingface_hub`, so files land where timm and transformers look
for them (and theirs are found here). The settings are read when a file is asked for, not
when huggingface_hub was imported, so a changed environment is honoured.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from engine.models.weights.errors import DownloadCancelled, DownloadFailed
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


def offline() -> bool:
    """Return whether HF_HUB_OFFLINE asks to use the cache only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


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
    if offline():
        raise DownloadFailed(
            f"cannot get the weights of {repo}",
            f"HF_HUB_OFFLINE is set and they are not in the Hugging Face cache {hub_cache()}",
            "unset HF_HUB_OFFLINE, set HF_HUB_CACHE/HF_HOME to the cache that has them, or "
            + ways_on(),
        )
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    missing = []
    for filename in FILES:
        try:
            path = hf_hub_download(
                repo, filename, revision=revision, cache_dir=hub_cache(), endpoint=endpoint(),
                token=os.environ.get("HF_TOKEN") or None, tqdm_class=_bar(progress, cancel))
            return Path(str(path))
        except EntryNotFoundError:
            missing.append(filename)
        except DownloadCancelled:
            raise
        except HfHubHTTPError as error:
            status = getattr(getattr(error, "response", None), "status_code", None)
            if status in (401, 403):
                raise DownloadFailed(f"the Hub refused {repo} (HTTP {status})",
                                     "the repo is private or gated, or the token is wrong",
                                     "export HF_TOKEN=hf_... with access to it") from None
            raise _failed(repo, error) from None
        except Exception as error:  # connection errors come in many types
            raise _failed(repo, error) from None
    raise DownloadFailed(f"{repo} has no weights file on {endpoint()}",
                         f"none of {', '.join(missing)} is there",
                         "check the model name and tag, or HF_ENDPOINT")


def _failed(repo: str, error: BaseException) -> DownloadFailed:
    """Return the error for a Hub that cannot be reached or failed."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DownloadFailed(f"cannot download the weights of {repo} from {endpoint()}",
                          f"{type(error).__name__}: {text[:200]}",
                          "set HF_ENDPOINT=http://host to a Hub mirror you can reach; "
                          + ways_on())


def _bar(progress: Any, cancel: threading.Event | None) -> type:
    """Return a tqdm class that reports bytes to `progress` and stops when `cancel` is set."""
    from tqdm.std import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.done = int(kwargs.get("initial") or 0)
            self.size = kwargs.get("total")

        def update(self, n: float | None = 1) -> bool | None:
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("download cancelled")
            self.done += int(n or 0)
            if progress is not None:
                progress(self.done, int(self.size) if self.size else None)
            return None

    return Bar


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
