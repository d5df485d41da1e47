"""No import cycles in studio/, engines/ or ui/: no module imports itself around a loop.

What is checked: the import graph of every module of the three packages, built by grimp (the
library import-linter runs on), with a strongly-connected-components search over it. Every
import statement counts, including those inside functions: they defer a heavy library (torch,
llama_cpp), and a loop through one still means neither module can be read, moved or tested
without the other. Only `if TYPE_CHECKING:` imports are left out, because they never run. A
package's __init__.py is a module of its own: `pkg/__init__.py` importing `pkg.a` while
`pkg/a.py` imports `pkg` is a cycle (`pkg/a.py` importing `pkg.b` is not: that loads
`pkg/__init__.py` first, but it is no import of it).

Between packages, the `acyclic_siblings` contract in pyproject.toml holds the stronger rule:
no two sibling packages (studio.datasets and studio.training, say) depend on each other even
through different modules.
"""

from __future__ import annotations

from collections import deque

import grimp

ROOTS = ("studio", "engines", "ui")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """One shortest cycle per strongly connected component of more than one module,
    each as [a, b, ..., a]."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    cycles = []
    for component in _components(edges):
        start = min(component)
        cycles.append(_shortest_loop(edges, start, component))
    return cycles


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    """`a (line 3) -> b (line 9) -> a`, each line the import statement in the module before it."""
    parts = []
    for importer, imported in zip(cycle, cycle[1:]):
        lines = sorted(d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported))
        parts.append(f"{importer} (line {', '.join(map(str, lines))})")
    return " -> ".join(parts + [cycle[-1]])


def _components(edges: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iterative (the graph is a few hundred modules,
    but a recursive walk would still be one deep chain away from Python's recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _shortest_loop(edges: dict[str, list[str]], start: str, within: set[str]) -> list[str]:
    """Breadth-first from `start` back to itself, inside its component."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in edges[node]:
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1] + [start]
            if child in within and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a cycle, but no loop back to it was found")


def test_studio_engines_and_ui_have_no_import_cycles():
    graph = grimp.build_graph(*ROOTS, exclude_type_checking_imports=True, cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(graph, c) for c in cycles)


def test_a_cycle_through_a_function_local_import_is_found_and_named(tmp_path, monkeypatch):
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loopy import b\n")
    (pkg / "b.py").write_text("def f():\n    from loopy.c import g\n    return g\n")
    (pkg / "c.py").write_text("import loopy.a\n\ng = 1\n")
    (pkg / "d.py").write_text("import loopy.a\n")  # imports into the loop, but is not part of it
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("loopy", cache_dir=None)
    cycles = import_cycles(graph)
    assert cycles == [["loopy.a", "loopy.b", "loopy.c", "loopy.a"]]
    assert describe(graph, cycles[0]) == "loopy.a (line 1) -> loopy.b (line 2) -> loopy.c (line 1) -> loopy.a"
