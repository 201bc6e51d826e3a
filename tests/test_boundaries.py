"""The arrow points one way (tui -> engine -> torch): engine/ never imports textual, rich or tui."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"
FORBIDDEN = ("textual", "rich", "tui", "textual_plotext", "plotext")


def forbidden_imports(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """Return (line, module) for every import of a UI package in `source`, dynamic ones included."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in ("__import__", "import_module") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                names = [first.value]
        found += [(node.lineno, name) for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def test_engine_never_imports_the_ui() -> None:
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 5, f"no engine sources found under {ENGINE}"
    offenders = [f"{path.relative_to(ENGINE.parent)}:{line} imports {name}"
                 for path in files
                 for line, name in forbidden_imports(path.read_text(encoding="utf-8"), str(path))]
    assert not offenders, "engine/ must not import the UI:\n" + "\n".join(offenders)


@pytest.mark.parametrize("source", [
    "import rich", "import textual.app", "from tui.cli import output",
    "from rich.console import Console", "def f():\n    import textual\n",
    "import importlib\nimportlib.import_module('tui.app')", "__import__('rich.table')",
    "try:\n    import plotext\nexcept ImportError:\n    pass\n",
])
def test_the_check_catches_every_spelling(source: str) -> None:
    assert forbidden_imports(source)


@pytest.mark.parametrize("source", [
    "import torch", "from engine.errors import BadInput", "import richtext",
    "from . import tree", "x = 'import rich'", "import tuition",
])
def test_the_check_lets_engine_imports_through(source: str) -> None:
    assert not forbidden_imports(source)
