"""No import cycle among the domain's modules (meshshift.migration).

The layer contracts are import-linter's, in pyproject.toml, checked by `make lint`. Its own
acyclic contract judges a subpackage as one unit (``migration.edge`` against ``migration.errors``),
which is stricter than "no module imports itself back", so this test asks grimp, the graph
library import-linter is built on, about modules.

An import under ``TYPE_CHECKING`` does not count: it never runs, and it is how an annotation
names a type from a module above (``edge.base`` names ``spec.RampSpec``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "meshshift.migration"

# grimp walks the folder of a top-level package, and the editable install has none: meshshift's
# subpackages are found through setuptools' import hook. The graph is built, in a fresh
# interpreter, from a folder of links laid out as the installed package.
GRAPH_SCRIPT = """
import json, sys
import grimp
graph = grimp.build_graph("meshshift", exclude_type_checking_imports=True, cache_dir=None)
inside = {m for m in graph.modules if m == sys.argv[1] or m.startswith(sys.argv[1] + ".")}
print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in sorted(inside)}))
"""


def package_view(root: Path) -> Path:
    """``root/meshshift``: links to the folders that pyproject.toml's package-dir maps."""
    package_dir = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    view = root / "meshshift"
    view.mkdir()
    for package, folder in package_dir.items():
        if package == "meshshift":
            for item in (REPO / folder).iterdir():
                (view / item.name).symlink_to(item)
        else:
            (view.joinpath(*package.split(".")[1:])).symlink_to(REPO / folder, target_is_directory=True)
    return root


def domain_imports(tmp_path: Path) -> dict[str, list[str]]:
    """Module -> the modules of the domain it imports at run time."""
    done = subprocess.run(
        [sys.executable, "-c", GRAPH_SCRIPT, DOMAIN],
        env={**os.environ, "PYTHONPATH": str(package_view(tmp_path))},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    graph: dict[str, list[str]] = json.loads(done.stdout)
    return graph


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.get(module, []):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in graph.get(module, []):
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_cycles_finds_a_cycle_and_nothing_else() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e"], "f": []}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]


def test_no_import_cycle_among_the_domain_modules(tmp_path: Path) -> None:
    graph = domain_imports(tmp_path)
    # The graph is the real one, not an empty view: the spec imports its error formatting.
    assert f"{DOMAIN}.errors" in graph[f"{DOMAIN}.spec"]
    assert f"{DOMAIN}.spec" in graph[f"{DOMAIN}.loading"]
    assert cycles(graph) == []
