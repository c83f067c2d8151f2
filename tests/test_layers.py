"""The package's floors: every import of lyricseg points down (or sideways), never up.

Each module of ``src/lyricseg`` is parsed with :mod:`ast`; every import in it counts, at
module level or inside a function (a lazy import is still a dependency). A module belongs to
its package (``lyricseg.models.components.encoder`` to ``models``); the packages sit on the
floors below, lowest first. A package may import from its own floor or a lower one, and the
graph of packages must have no cycle. Failures list the offending edges as
``module -> imported name``.

A ``__main__`` module (``python -m lyricseg.serve``) is a console entry point, so it stands on
the commands floor whatever package holds it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "lyricseg"

#: Floors, lowest first. ``lyricseg`` is the package's own ``__init__``: the public facade
#: (``__version__``, ``Segmenter``), above everything it re-exports, imported by nothing inside.
FLOORS: list[tuple[str, ...]] = [
    ("utils",),
    ("sections",),
    ("features",),
    ("data",),
    ("losses", "metrics", "models", "calibration"),
    ("checkpoint",),
    ("training", "inference"),
    ("api", "serve", "analysis", "migrate", "predict"),
    ("lyricseg",),
    ("commands",),
]
FLOOR = {package: level for level, packages in enumerate(FLOORS) for package in packages}

#: Package names on no floor (package data, version) that any floor may import.
UNFLOORED = {"pretrained", "_version"}

#: What a pure-network package may not import: training machinery belongs one floor up.
PURE_NN = {"models": ("lightning", "torchmetrics", "lyricseg.metrics", "lyricseg.checkpoint")}


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_names(path: Path, src: Path = SRC) -> list[str]:
    """Every module name ``path`` imports, absolute; ``from a import b`` gives ``a.b``.

    ``a.b`` may be an attribute rather than a module: :func:`package_of` only needs the
    first component below ``lyricseg``, and a submodule name is what ``from lyricseg import
    checkpoint`` means.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, src).split(".")
    if not is_package(path):
        here = here[:-1]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def package_of(name: str) -> str | None:
    """``lyricseg.models.tagger`` -> ``models``; ``lyricseg`` itself -> ``lyricseg``."""
    parts = name.split(".")
    if parts[0] != "lyricseg":
        return None
    if len(parts) == 1 or parts[1] in {"__version__", "Segmenter", "Segmentation"}:
        return "lyricseg"
    return parts[1]


def all_imports() -> list[tuple[str, str, str, str]]:
    """``(module, imported name, its package, imported package)`` for every lyricseg import."""
    edges = []
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path)
        source = "commands" if path.stem == "__main__" else package_of(module)
        for name in imported_names(path):
            target = package_of(name)
            if target is not None and target != source:
                edges.append((module, name, source, target))
    return edges


def test_every_package_is_on_a_floor():
    modules = [p for p in ROOT.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()]
    packages = {p.stem for p in modules if not p.name.startswith("__")} - UNFLOORED
    assert packages - set(FLOOR) == set(), "give these packages a floor in FLOORS"


def test_no_import_points_to_a_higher_floor():
    upward = [
        f"{module} -> {name}  ({source}, floor {FLOOR[source]} -> {target}, floor {FLOOR[target]})"
        for module, name, source, target in all_imports()
        if {source, target}.isdisjoint(UNFLOORED)
        and FLOOR.get(target, -1) > FLOOR.get(source, len(FLOORS))  # unknown: the test above
    ]
    assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(upward)


def test_no_cycle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    witness: dict[tuple[str, str], str] = {}
    for module, name, source, target in all_imports():
        graph[source].add(target)
        witness.setdefault((source, target), f"{module} -> {name}")
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    report = [
        f"{a} -> {b}: {witness[a, b]}"
        for cycle in cycles
        for a in sorted(cycle)
        for b in sorted(graph[a] & cycle)
    ]
    assert not cycles, "packages importing each other:\n" + "\n".join(report)


@pytest.mark.parametrize("package", sorted(PURE_NN))
def test_pure_network_code_imports_no_training_machinery(package):
    banned = PURE_NN[package]
    found = [
        f"{module_name(path)} -> {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imported_names(path)
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]
    assert not found, f"lyricseg.{package} is plain torch.nn:\n" + "\n".join(found)


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            components.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return components


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The parser itself: a function-level and a relative import are both edges."""
    pkg = tmp_path / "lyricseg" / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "net.py").write_text(
        "from . import heads\ndef f():\n    from lyricseg.training import module\n"
    )
    names = imported_names(pkg / "net.py", src=tmp_path)
    assert names == ["lyricseg.models.heads", "lyricseg.training.module"]
