"""The versions of ptm-tui and the packages it runs on, as their installers recorded them."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from engine.doctor.check import Check, State

PACKAGES: tuple[tuple[str, State, str], ...] = (
    (
        "ptm-tui",
        "warn",
        "this copy runs from its source folder without being installed, so there is no "
        "`ptm-tui` command: pip install -e . in that folder",
    ),
    ("torch", "fail", "pip install torch (see https://pytorch.org/get-started/locally/ for a CUDA build)"),
    ("torchvision", "fail", "pip install torchvision (the one made for your torch)"),
    ("timm", "info", "for timm/<name> models: pip install 'ptm-tui[timm]'"),
    ("textual", "fail", "pip install textual (the TUI draws with it)"),
)
"""Each package, how bad its absence is, and how to install it."""


def installed(name: str) -> str | None:
    """Return the installed version of distribution `name`, or None when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def software_checks() -> list[Check]:
    """Return one line for Python and one for each package ptm-tui runs on."""
    rows = [
        Check(
            "software",
            "python",
            "ok",
            platform.python_version(),
            details={"version": platform.python_version()},
        )
    ]
    for name, missing, fix in PACKAGES:
        found = installed(name)
        if found is None:
            rows.append(Check("software", name, missing, "not installed", fix, {"version": None}))
        else:
            rows.append(Check("software", name, "ok", found, details={"version": found}))
    return rows
