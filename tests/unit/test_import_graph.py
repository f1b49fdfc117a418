"""The package's imports, walked from its source: no import circle, no reach into another module's
private names, no module loaded by a string.

Why a test: a circle or a private reach-in is invisible until a refactor trips over it (issue 12 found
`cli` ⇄ `cli.digest`, `kinds.support` reaching `research._read_pages`, `schedule` reaching
`textutil._jieba_module`, kinds loaded by `importlib.import_module("pipeline.kind_…")`). Every import
counts, also those inside functions (kept there for start-up time): they are still edges a reader follows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module name of a `from … import` (relative imports resolved against `importer`)."""
    if not node.level:
        return node.module or ""
    is_pkg = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str) -> tuple[set[str], list[str], list[str]]:
    """(pipeline modules `name` imports, private names it takes from other modules, string imports)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    edges: set[str] = set()
    private: list[str] = []
    by_string: list[str] = []
    aliases: dict[str, str] = {}  # local name -> pipeline module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES:
                    edges.add(a.name)
                    aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, node)
            if source.split(".")[0] != "pipeline":
                continue
            for a in node.names:
                sub = f"{source}.{a.name}"
                if sub in MODULES:  # `from pipeline.kinds import coverage`: the module itself
                    edges.add(sub)
                    aliases[a.asname or a.name] = sub
                    continue
                if source in MODULES:
                    edges.add(source)
                if a.name.startswith("_") and not a.name.startswith("__") and source != name:
                    private.append(f"{source}.{a.name}")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("pipeline"):
                    by_string.append(arg.value)
                elif not isinstance(arg, ast.Constant):
                    by_string.append(ast.unparse(arg))
    for node in ast.walk(tree):  # `module._private` through an imported module
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__") and aliases[node.value.id] != name):
            private.append(f"{aliases[node.value.id]}.{node.attr}")
    edges.discard(name)
    return edges, private, by_string


GRAPH = {name: imports_of(name) for name in sorted(MODULES)}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_sees_the_package() -> None:
    # guards the walk itself: a broken resolver would find no edges and pass everything below
    assert len(MODULES) > 40
    assert "pipeline.run.runner" in GRAPH
    assert "pipeline.config" in GRAPH["pipeline.run.runner"][0]


def test_circles_are_found() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    found = circles({name: edges for name, (edges, _, _) in GRAPH.items()})
    assert not found, "import circles: " + "; ".join(" ⇄ ".join(c) for c in found)


def test_no_private_name_of_another_module() -> None:
    reach = {name: private for name, (_, private, _) in GRAPH.items() if private}
    assert not reach, "private names imported from other modules: " + "; ".join(
        f"{name} takes {', '.join(p)}" for name, p in reach.items())


def test_no_module_loaded_by_a_string() -> None:
    loaded = {name: s for name, (_, _, s) in GRAPH.items() if s}
    assert not loaded, f"modules loaded by strings (import them normally): {loaded}"


@pytest.mark.parametrize("source, expected", [("from pipeline.x import _y", ["pipeline.x._y"])])
def test_private_reach_is_seen(tmp_path: Path, source: str, expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    probe = PACKAGE / "_probe_for_import_graph_test.py"
    monkeypatch.setitem(MODULES, "pipeline._probe_for_import_graph_test", probe)
    probe.write_text(source + "\n", encoding="utf-8")
    try:
        assert imports_of("pipeline._probe_for_import_graph_test")[1] == expected
    finally:
        probe.unlink()
