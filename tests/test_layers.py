"""The engine's packages point one way (models <- inspect <- edit <- use <- train <- jobs), and no
module of ours imports another that (directly or not) imports it back.

Every import counts, also those inside functions (a lazy import still ties the two modules
together) and, in engine/, those under `if TYPE_CHECKING:` (a type is a dependency too).
`from pkg import mod` depends on `pkg` as well: it runs pkg/__init__.py. In tui/ the screen
mixins name their screen's type under TYPE_CHECKING; those are left out there.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("models", "inspect", "edit", "use", "train", "jobs", "doctor")
"""The engine's packages in order: each may import only those before it (and the basics)."""
BASICS = ("engine", "engine.errors", "engine.atomic", "engine.paths", "engine.outputs", "engine.home",
          "engine.words", "engine.text", "engine.readfile")


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Return every module of `package` under `root` by dotted name (a package by its own name)."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST, type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node) and not type_checking:
            stack += node.orelse  # type: ignore[attr-defined]
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack += ast.iter_child_nodes(node)
    return found


def import_graph(root: Path, packages: tuple[str, ...] = ("engine", "tui")) -> dict[str, dict[str, int]]:
    """Return {module: {module it imports: line}} for the modules of `packages` under `root`."""
    known: dict[str, Path] = {}
    for package in packages:
        known |= module_names(root, package)
    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        edges: dict[str, int] = {}
        source = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(source, type_checking=name.startswith("engine")):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{a.name}" for a in node.names
                                   if f"{base}.{a.name}" in known)]
            for target in targets:
                while target and target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in known and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def layer_of(module: str) -> int:
    """Return the layer of an engine module: 0 for the basics, then 1.. in LAYERS order."""
    if module in BASICS:
        return 0
    parts = module.split(".")
    assert parts[0] == "engine" and len(parts) > 1 and parts[1] in LAYERS, \
        f"{module} is in no layer: put it in one of engine/{{{','.join(LAYERS)}}}/ or the basics"
    return LAYERS.index(parts[1]) + 1


def against_the_arrows(graph: dict[str, dict[str, int]]) -> list[str]:
    """Return every engine import that points from a lower layer to a higher one."""
    wrong = []
    for module, edges in graph.items():
        if not module.startswith("engine"):
            continue
        for target, line in edges.items():
            if target.startswith("engine") and layer_of(target) > layer_of(module):
                wrong.append(f"{module}:{line} imports {target}")
            if target.startswith("tui"):
                wrong.append(f"{module}:{line} imports the UI ({target})")
    return wrong


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Return each group of modules that import each other (strongly connected, > 1 module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_engine_packages_read_as_the_verbs() -> None:
    packages = sorted(p.name for p in (ROOT / "engine").iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    assert packages == sorted(LAYERS)
    loose = sorted(p.stem for p in (ROOT / "engine").glob("*.py"))
    assert loose == sorted(["__init__", *(name.rsplit(".", 1)[-1] for name in BASICS if name != "engine")])


def test_every_engine_package_says_what_it_is_for() -> None:
    for package in LAYERS:
        doc = ast.get_docstring(ast.parse((ROOT / "engine" / package / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"engine/{package}/__init__.py: say what it is for and may import"


def test_layers_point_one_way() -> None:
    wrong = against_the_arrows(import_graph(ROOT))
    arrows = "models <- inspect <- edit <- use <- train <- jobs <- doctor"
    assert not wrong, f"imports against {arrows}:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    found = cycles(import_graph(ROOT))
    assert not found, "modules that import each other:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_op_registry_imports_none_of_its_members() -> None:
    edges = import_graph(ROOT)["engine.edit.ops"]
    assert not [target for target in edges if target.startswith("engine.edit")]


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    for package in ("engine", "tui"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_a_back_import_is_caught(copy_of_the_code: Path) -> None:
    assert not against_the_arrows(import_graph(copy_of_the_code))
    _append(copy_of_the_code / "engine/models/catalog.py",
            "\n\ndef _jobs():\n    from engine.jobs.store import jobs_root\n    return jobs_root\n")
    wrong = against_the_arrows(import_graph(copy_of_the_code))
    assert len(wrong) == 1 and wrong[0].startswith("engine.models.catalog:")
    assert wrong[0].endswith("imports engine.jobs.store")


def test_a_cycle_is_caught_even_through_a_lazy_import(copy_of_the_code: Path) -> None:
    assert not cycles(import_graph(copy_of_the_code))
    # heads imports meta; meta importing heads back (inside a function) closes a circle
    _append(copy_of_the_code / "engine/inspect/meta.py",
            "\n\ndef _head(model):\n    from engine.inspect.heads import find_head\n"
            "    return find_head(model)\n")
    assert cycles(import_graph(copy_of_the_code)) == [["engine.inspect.heads", "engine.inspect.meta"]]


def test_type_checking_imports_count_in_the_engine(copy_of_the_code: Path) -> None:
    _append(copy_of_the_code / "engine/models/catalog.py",
            "\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from engine.jobs.store import jobs_root\n")
    wrong = against_the_arrows(import_graph(copy_of_the_code))
    assert len(wrong) == 1 and wrong[0].startswith("engine.models.catalog:")
    assert wrong[0].endswith("imports engine.jobs.store")


def test_importing_a_module_from_a_package_depends_on_the_package(copy_of_the_code: Path) -> None:
    # engine/edit/__init__.py imports the op families; one of them importing `from engine.edit
    # import ...` runs that __init__ again: a circle
    _append(copy_of_the_code / "engine/edit/freeze_ops.py",
            "\n\ndef _lazy():\n    from engine.edit import freeze\n    return freeze\n")
    assert ["engine.edit", "engine.edit.freeze_ops"] in cycles(import_graph(copy_of_the_code))
