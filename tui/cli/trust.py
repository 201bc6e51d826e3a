"""`--trust-code`: the one flag by which a user lets a file's recipe name code (engine.models.trust)."""

from __future__ import annotations

from typing import Any

from engine.models.trust import TRUST_FLAG


def add_trust_flag(parser: Any) -> None:
    """Add --trust-code to a command that rebuilds models from files, job folders or bundles."""
    parser.add_argument(
        TRUST_FLAG,
        dest="trust_code",
        action="store_true",
        help="let a weights file, checkpoint or job folder name the Python code that builds its "
        "model (pkg.mod:factory, file.py:Class): that code is imported and run, so only for "
        "files you trust (without it, such a file is refused and nothing is imported)",
    )
