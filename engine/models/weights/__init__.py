"""The weights store: torch.hub's cache, safe hash-checked downloads, and safe reading."""

from engine.models.weights.cache import (
    cache_dir,
    cached_file,
    file_name,
    hash_matches,
    hash_prefix,
    is_download_url,
    is_url,
    mirror_url,
    sha256_of,
)
from engine.models.weights.download import download
from engine.models.weights.errors import (
    CorruptCheckpoint,
    DownloadCancelled,
    DownloadFailed,
    UnsafeCheckpoint,
)
from engine.models.weights.safe_load import (
    find_state_dict,
    local_weights_path,
    read_checkpoint,
    read_meaning,
    read_state_dict,
    read_weights,
    strip_prefixes,
)

__all__ = [
    "CorruptCheckpoint",
    "DownloadCancelled",
    "DownloadFailed",
    "UnsafeCheckpoint",
    "cache_dir",
    "cached_file",
    "download",
    "file_name",
    "find_state_dict",
    "hash_matches",
    "hash_prefix",
    "is_download_url",
    "is_url",
    "local_weights_path",
    "mirror_url",
    "read_checkpoint",
    "read_meaning",
    "read_state_dict",
    "read_weights",
    "sha256_of",
    "strip_prefixes",
]
