"""The ways on when pretrained weights cannot be had: the same words for the CLI and the TUI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WayOn:
    """One thing the user can do to get weights (or go on without them)."""

    key: str
    """The explorer's key for it, or "" when it is done outside the app."""
    title: str
    how: str


WAYS_ON = (
    WayOn("d", "retry", "try the download again (after fixing the network or proxy)"),
    WayOn("W", "open a weights file or folder",
          "--weights FILE|FOLDER: a file copied here, or a shared folder (NFS) of weights; "
          "PTM_WEIGHTS_PATH=dir1:dir2 searches folders for every model"),
    WayOn("", "use a mirror",
          "export PTM_WEIGHTS_MIRROR=http://host/path/ (a copy of download.pytorch.org/models/); "
          "HF_ENDPOINT=http://host for timm's Hugging Face weights"),
    WayOn("", "import a bundle",
          "on a machine with internet: ptm-tui download MODEL --bundle weights.tar; "
          "copy it here, then: ptm-tui import weights.tar"),
    WayOn("", "random init", "--weights none: the architecture with random weights"),
)


def ways_on() -> str:
    """Return the ways on as one fix line for an error message."""
    return ("no network here? point PTM_WEIGHTS_MIRROR=http://host/path/ at a mirror, "
            "run `ptm-tui import weights.tar` with a bundle made by `ptm-tui download MODEL "
            "--bundle weights.tar` elsewhere, or pass --weights FILE|FOLDER "
            "(--weights none for random init)")
