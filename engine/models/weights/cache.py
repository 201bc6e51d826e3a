"""Where weights files live: torch.hub's checkpoint cache, file names, hash prefixes, mirrors."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from urllib.parse import ParseResult, urlparse

from engine.errors import BadInput, redact

# torch.hub's convention: `name-<sha256 prefix>.ext`, e.g. resnet50-11ad3fa6.pth.
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
TORCHVISION_BASE = "https://download.pytorch.org/models/"
MIRROR_ENV = "PTM_WEIGHTS_MIRROR"


def cache_dir() -> Path:
    """Return torch.hub's checkpoint folder ($TORCH_HOME/hub/checkpoints by default)."""
    return hub_dir() / "checkpoints"


def hub_dir() -> Path:
    """Return torch.hub.get_dir(), computed without importing torch when it is not loaded yet."""
    hub = sys.modules.get("torch.hub")
    if hub is not None:  # honours torch.hub.set_dir()
        return Path(hub.get_dir())
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch"
    )
    return Path(os.path.expanduser(home)) / "hub"


def work_dir() -> Path:
    """Return the folder beside the cache that holds partial downloads and their locks."""
    return hub_dir() / ".ptm-partial"


def file_name(url: str) -> str:
    """Return the cache file name of `url` (the last part of its path, as torch.hub names it)."""
    name = os.path.basename(parse_url(url).path)  # exactly as torch.hub names it
    if not name or name in (".", ".."):
        raise BadInput(
            f"cannot download {url!r}",
            "the URL does not end in a file name",
            "give the full URL of the weights file, e.g. https://host/models/resnet18-f37072fd.pth",
        )
    return name


def hash_prefix(name: str) -> str | None:
    """Return the SHA-256 prefix carried in a file name like `resnet50-11ad3fa6.pth`, or None."""
    match = HASH_REGEX.search(name)
    return match.group(1) if match else None


def sha256_of(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Return the hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_matches(path: str | os.PathLike[str]) -> bool | None:
    """Return whether a file's SHA-256 starts with the prefix in its name (None: no prefix)."""
    prefix = hash_prefix(Path(path).name)
    if not prefix:
        return None
    return sha256_of(path).startswith(prefix)


def mirror_url(url: str) -> str:
    """Return `url` with torchvision's base URL replaced by $PTM_WEIGHTS_MIRROR when it is set."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror or not url.startswith(TORCHVISION_BASE):
        return url
    if not is_url(mirror):
        raise BadInput(f"{MIRROR_ENV}={redact(mirror)!r} is not a URL",
                       f"it must replace {TORCHVISION_BASE}, so it needs http://, https:// or file://",
                       f"export {MIRROR_ENV}=http://host/path/ (or unset it)")
    if not mirror.endswith("/"):
        mirror += "/"
    return mirror + url[len(TORCHVISION_BASE):]


def cached_file(url: str) -> Path | None:
    """Return the cached file of `url` when it is already in the cache, else None."""
    if url.startswith("hf://"):  # timm's weights live in the Hugging Face cache
        from engine.models.weights.hf import cached_hub_file

        return cached_hub_file(url.removeprefix("hf://"))
    path = cache_dir() / file_name(url)
    return path if path.is_file() else None


def is_url(text: str) -> bool:
    """Return whether `text` is a URL (http, https or file; a malformed one too, to be refused)."""
    try:
        return urlparse(str(text)).scheme in ("http", "https", "file")
    except ValueError:  # e.g. an unclosed IPv6 bracket: still meant as a URL
        return str(text).lower().startswith(("http://", "https://", "file://"))


def is_download_url(text: str) -> bool:
    """Return whether `text` is an http(s) URL, the only kind that is downloaded."""
    return is_url(text) and str(text).lower().startswith(("http://", "https://"))


def parse_url(url: str) -> ParseResult:
    """Return the parts of `url`; BadInput (not a ValueError) when it is malformed."""
    try:
        parts = urlparse(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise BadInput(f"cannot download {url!r}", f"it is not a valid URL ({error})",
                       "check the URL: e.g. http://[::1]:8000/resnet18-f37072fd.pth") from None
    return parts
