"""The package's import graph: no cycles, a light module for the Snakefile, and the stated
import direction between the stage folders (issue 11, point 1).

The graph is read from the source with `ast`, so it sees every import, module-level and
function-local, whether or not a test happens to run it. Imports under `if TYPE_CHECKING:`
never run, so they are left out: they are how a module names a type without importing it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SOURCE = PROJECT / "src"
PACKAGE = "raw2ready"

#: Libraries the Snakefile's process must not load while Snakemake builds the DAG.
HEAVY = ("rasterio", "osgeo", "pystac", "pystac_client")


@dataclass(frozen=True)
class Import:
    """One import statement of a package module: where it is and what it reaches."""

    importer: str
    imported: str
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.file.relative_to(PROJECT)}:{self.line})"


def module_name(path: Path) -> str:
    """The dotted module name of a source file (a package's __init__.py is the package)."""
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(test: ast.expr) -> bool:
    """True for `TYPE_CHECKING` and `typing.TYPE_CHECKING` (and any `x.TYPE_CHECKING`)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement below `node` that can run: all but `if TYPE_CHECKING:` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and is_type_checking(child.test):
            for branch in child.orelse:
                if isinstance(branch, ast.Import | ast.ImportFrom):
                    yield branch
                else:
                    yield from runtime_imports(branch)
        else:
            yield from runtime_imports(child)


def ancestors(module: str) -> list[str]:
    """The packages whose __init__ runs before `module`: `a.b.c` -> [`a`, `a.b`]."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def targets(
    statement: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: set[str]
) -> set[str]:
    """The package modules a statement makes Python run, as seen from `importer`.

    `import a.b` and `from a.b import y` run a.b and its parent packages' __init__, and
    a.b.y too when y is a submodule. Parents that enclose the importer are left out: they
    are already initialised when the importer runs, and every package's __init__ may import
    its own submodules. A parent named explicitly (`from a import name`) stays: the importer
    then reads that __init__'s namespace.
    """
    explicit: set[str] = set()
    if isinstance(statement, ast.Import):
        explicit = {alias.name for alias in statement.names}
    else:
        base = statement.module or ""
        if statement.level:
            package = importer if is_package else importer.rpartition(".")[0]
            for _ in range(statement.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        submodules = {f"{base}.{alias.name}" for alias in statement.names} & modules
        names = {alias.name for alias in statement.names}
        explicit = submodules | ({base} if len(submodules) < len(names) else set())
    enclosing = {*ancestors(importer), importer}
    implied = {parent for module in explicit for parent in ancestors(module)} - enclosing
    return {module for module in explicit | implied if module in modules} - {importer}


@cache
def import_graph() -> dict[str, dict[str, Import]]:
    """importer -> imported -> the first statement making that edge, for every package module."""
    files = {module_name(path): path for path in sorted((SOURCE / PACKAGE).rglob("*.py"))}
    modules = set(files)
    graph: dict[str, dict[str, Import]] = {module: {} for module in modules}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for statement in runtime_imports(tree):
            for target in sorted(targets(statement, module, is_package, modules)):
                edge = Import(module, target, path, statement.lineno)
                graph[module].setdefault(target, edge)
    return graph


def reachable(graph: dict[str, dict[str, Import]], start: str) -> dict[str, list[Import]]:
    """Every module `start` imports, directly or not, with a shortest import chain to it."""
    chains: dict[str, list[Import]] = {start: []}
    pending = deque([start])
    while pending:
        module = pending.popleft()
        for target, edge in sorted(graph[module].items()):
            if target not in chains:
                chains[target] = [*chains[module], edge]
                pending.append(target)
    del chains[start]
    return chains


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The groups of modules that import each other (each of size > 1), sorted."""
    reach = {module: set(reachable(graph, module)) for module in graph}
    groups = {
        frozenset({module} | {other for other in reach[module] if module in reach[other]})
        for module in graph
    }
    return sorted(sorted(group) for group in groups if len(group) > 1)


def elementary_cycles(graph: dict[str, dict[str, Import]], group: list[str]) -> list[list[str]]:
    """Every simple cycle inside one strongly connected group, each from its smallest module."""
    cycles: list[list[str]] = []
    for index, start in enumerate(group):
        allowed = set(group[index:])
        stack = [(start, [start])]
        while stack:
            module, path = stack.pop()
            for target in sorted(graph[module]):
                if target == start:
                    cycles.append(path)
                elif target in allowed and target not in path:
                    stack.append((target, [*path, target]))
    return cycles


def describe_cycle(graph: dict[str, dict[str, Import]], cycle: list[str]) -> str:
    """A cycle as its import statements, one per line."""
    edges = zip(cycle, [*cycle[1:], cycle[0]], strict=True)
    return "\n".join(f"    {graph[source][target]}" for source, target in edges)


def test_the_graph_reader_and_cycle_finder_find_what_is_there() -> None:
    """Guards the tools of the tests below, so that their passing means something."""
    graph = import_graph()
    assert f"{PACKAGE}.errors" in graph[f"{PACKAGE}.cli"]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import raw2ready.a.b\n"
        "if TYPE_CHECKING:\n    from raw2ready.c import d\nelse:\n    import raw2ready.e\n"
        "def f():\n    from raw2ready.a import c, name\n    from . import b\n"
    )
    modules = {"raw2ready", "raw2ready.a", "raw2ready.a.b", "raw2ready.a.c", "raw2ready.c",
               "raw2ready.c.d", "raw2ready.e", "raw2ready.x", "raw2ready.x.y"}  # fmt: skip
    found = set()
    for statement in runtime_imports(tree):
        found |= targets(statement, "raw2ready.x.y", False, modules)
    assert found == {"raw2ready.a", "raw2ready.a.b", "raw2ready.a.c", "raw2ready.e", "raw2ready.x"}

    edge = Import("a", "b", PROJECT / "x.py", 1)
    toy = {"a": {"b": edge, "c": edge}, "b": {"a": edge, "c": edge}, "c": {"d": edge}, "d": {}}
    toy["d"]["c"] = edge
    assert strongly_connected(toy) == [["a", "b"], ["c", "d"]]
    assert elementary_cycles(toy, ["a", "b"]) == [["a", "b"]]


def test_no_import_cycles() -> None:
    graph = import_graph()
    groups = strongly_connected(graph)
    report = []
    for group in groups:
        cycles = elementary_cycles(graph, group)
        report.append(f"modules {', '.join(group)} import each other ({len(cycles)} cycle(s)):")
        report += [f"  cycle {number}:\n{describe_cycle(graph, cycle)}"
                   for number, cycle in enumerate(cycles, 1)]  # fmt: skip
    if groups:
        pytest.fail("import cycles in src/raw2ready:\n" + "\n".join(report), pytrace=False)


def snakefile_imports() -> list[str]:
    """The top-level `raw2ready` import statements of the Snakefile and rules/*.smk, in order.

    These run when Snakemake parses the workflow; imports indented inside rules or
    functions run only in jobs.
    """
    statements = []
    pattern = rf"^(?:from|import)\s+{PACKAGE}\b[^\n(]*(?:\([^)]*\))?.*$"
    statement = re.compile(pattern, re.MULTILINE)
    for path in [PROJECT / "Snakefile", *sorted((PROJECT / "rules").glob("*.smk"))]:
        statements += statement.findall(path.read_text(encoding="utf-8"))
    return statements


def test_the_snakefile_imports_no_raster_or_stac_library() -> None:
    """A fresh interpreter running the workflow's imports loads no rasterio/GDAL/pystac."""
    statements = snakefile_imports()
    assert any("raw2ready.campaign.workflow" in line for line in statements), statements
    report = (
        "import sys\n"
        "loaded = set()\n"
        "def report(statement):\n"
        f"    new = sorted(set({HEAVY!r}) & set(sys.modules) - loaded)\n"
        "    loaded.update(new)\n"
        "    if new:\n"
        "        print(statement, '->', ', '.join(new))\n"
    )
    script = report + "".join(f"{line}\nreport({line!r})\n" for line in statements)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    if result.stdout:
        message = "the Snakefile's imports load raster or STAC libraries (statement -> loaded):\n"
        pytest.fail(message + result.stdout, pytrace=False)


def in_folder(module: str, folder: str) -> bool:
    """True when `module` is the package `raw2ready.<folder>` or a module inside it."""
    package = f"{PACKAGE}.{folder}"
    return module == package or module.startswith(f"{package}.")


#: folder -> folders none of its modules may import, directly or through other modules.
FORBIDDEN = {
    "archives": ("campaign", "stac", "raster"),
    "sentinel1": ("campaign", "stac"),
    "sentinel2": ("campaign", "stac", "raster"),
    "products": ("campaign", "stac"),
}


def is_transport(module: str) -> bool:
    """The shared transport code: raw2ready.archives.transfer and anything named transfer*."""
    return module.startswith(f"{PACKAGE}.archives.transfer")


def is_provider(module: str) -> bool:
    """An archives module other than transport (the package's own __init__ is shared)."""
    inside = in_folder(module, "archives") and module != f"{PACKAGE}.archives"
    return inside and not is_transport(module)


def crossings(
    graph: dict[str, dict[str, Import]], sources: list[str], forbidden: Callable[[str], bool]
) -> dict[Import, list[Import]]:
    """The import statements that lead from `sources` into forbidden modules, each with the
    shortest chain from a source that reaches it (the statement is the chain's last edge;
    of the modules one statement runs, the most specific one is shown)."""
    found: dict[Import, list[Import]] = {}
    for source in sources:
        for target, chain in reachable(graph, source).items():
            entry = chain[-1]
            if forbidden(target) and not forbidden(entry.importer):
                key = Import(entry.importer, "", entry.file, entry.line)
                known = found.get(key)
                rank = (len(chain), -len(target))
                if known is None or rank < (len(known), -len(known[-1].imported)):
                    found[key] = chain
    return found


def test_stage_folders_import_in_the_stated_direction() -> None:
    """Archive and sentinel parsing and products never import campaign or STAC code; archive
    and Sentinel-2 parsing never import raster code; transport imports no archive provider."""
    graph = import_graph()
    rules: list[tuple[str, list[str], Callable[[str], bool]]] = []
    for folder, banned in FORBIDDEN.items():
        sources = sorted(module for module in graph if in_folder(module, folder))
        assert sources, f"no modules in src/{PACKAGE}/{folder}/"
        rules.append(
            (
                f"{folder}/ must not import {' or '.join(f'{bad}/' for bad in banned)}",
                sources,
                lambda module, banned=banned: any(in_folder(module, bad) for bad in banned),
            )
        )
    transport = sorted(module for module in graph if is_transport(module))
    assert transport, f"no {PACKAGE}.archives.transfer* modules"
    rules.append(("transport must not import archive providers", transport, is_provider))
    report = []
    for problem, sources, forbidden in rules:
        found = crossings(graph, sources, forbidden)
        for statement in sorted(found, key=lambda edge: (edge.file, edge.line)):
            chain = found[statement]
            report.append(f"{problem}: {statement.file.relative_to(PROJECT)}:{statement.line}")
            report += [f"    {edge}" for edge in chain]
    if report:
        pytest.fail("imports against the stated direction:\n" + "\n".join(report), pytrace=False)
