"""No code outside an engine's own module asks which engine it is: it asks for a capability
(`pipeline.llm.base.Capabilities`, the specs of pipeline/run/engines.py). This walks the package's
syntax trees for comparisons of `.provider`, `.engine`, `settings.llm`, `settings.search` or
`settings.fetcher` with a string literal (`==`, `!=`, `in (...)`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipeline"

# The engines themselves, and the registry that names them, may use their names.
ENGINE_MODULES = {
    "pipeline/llm/extractive.py", "pipeline/llm/ollama.py", "pipeline/llm/openai_compat.py",
    "pipeline/llm/langchain_engine.py", "pipeline/search/__init__.py", "pipeline/search/auto.py",
    "pipeline/search/duckduckgo.py", "pipeline/search/local.py", "pipeline/run/engines.py",
}
NAMED_ATTRS = {"provider", "engine"}
SETTINGS_ATTRS = {"llm", "search", "fetcher"}


def _asks_the_name(node: ast.expr) -> bool:
    if not isinstance(node, ast.Attribute):
        return False
    if node.attr in NAMED_ATTRS:
        return True
    owner = node.value
    owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
    return node.attr in SETTINGS_ATTRS and owner_name == "settings"


def _is_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    return False


def name_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, code) of every comparison of an engine's name with a string literal in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_asks_the_name(o) for o in operands) and any(_is_text(o) for o in operands):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_module_outside_the_engines_compares_an_engine_name():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ENGINE_MODULES:
            continue
        offenders += [f"{rel}:{line}: {code}" for line, code in name_comparisons(path.read_text(encoding="utf-8"))]
    assert offenders == [], "ask for a capability instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize("code", [
    'if env.llm.provider == "extractive": pass',
    'x = 1 if engine.provider != "openai" else 2',
    'if settings.search in ("local", "auto"): pass',
    'if job.settings.search in ["duckduckgo"]: pass',
    'if "langchain" == self.settings.llm: pass',
    'ok = inner.engine == "duckduckgo"',
])
def test_the_walk_sees_a_comparison(code):
    assert name_comparisons(code), code


@pytest.mark.parametrize("code", [
    "if capabilities(env.llm).generative: pass",
    'if SEARCH_ENGINES.get(settings.search).needs_sources: pass',
    'label = f"{engine.provider}"',
    'if kind == "research": pass',
    'if settings.search == other: pass',
])
def test_the_walk_lets_capabilities_and_other_comparisons_be(code):
    assert name_comparisons(code) == []
