"""Errors of the weights store: unsafe or corrupt checkpoints, failed or cancelled downloads."""

from __future__ import annotations

from engine.errors import BadInput, PtmError, WorkFailed


class UnsafeCheckpoint(BadInput):
    """A checkpoint asks to run code (a global outside torch's allowlist); nothing was run."""

    def __init__(self, what: str, why: str = "", fix: str = "", global_name: str | None = None):
        self.global_name = global_name
        super().__init__(what, why, fix)


class CorruptCheckpoint(BadInput):
    """A checkpoint file is truncated, corrupt or not a checkpoint at all."""


class DownloadFailed(WorkFailed):
    """A download did not complete, or what arrived was rejected (size or hash)."""


class DownloadCancelled(PtmError):
    """The caller cancelled a download; nothing was left in the cache."""

    exit_code = 130
