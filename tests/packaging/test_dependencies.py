"""Every distribution the code imports is declared in pyproject.toml, including the ones another
dependency happens to pull in today (httpcore comes with httpx, but pipeline/search/fetch.py imports it
itself). Static and fast: the fresh-venv test (test_fresh_venv.py) proves the same by installing."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*, extras: bool = False) -> set[str]:
    """The distributions pyproject.toml declares: the dependencies, and with `extras` those of the
    optional extras too (scale, langchain, mcp: the code imports them only where they are used)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    if extras:
        for group in project.get("optional-dependencies", {}).values():
            requirements.extend(group)
    return {_normalized(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in requirements}


def imported(folder: Path) -> dict[str, set[str]]:
    """Top-level names imported anywhere in `folder` (lazy imports inside functions included) → files."""
    names: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                names.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return names


def test_every_imported_distribution_is_declared():
    providers = packages_distributions()
    wanted = declared(extras=True)
    third_party = {
        name: files for name, files in imported(ROOT / "pipeline").items()
        if name not in sys.stdlib_module_names and name != "pipeline"
    }
    assert {"httpx", "httpcore", "trafilatura", "pydantic"} <= set(third_party)  # the scan sees lazy imports
    missing = {}
    for name, files in sorted(third_party.items()):
        dists = {_normalized(d) for d in providers.get(name, [])}
        if not dists and _normalized(name) in wanted - declared():
            continue  # an optional extra's distribution that this venv did not install (README: `.[test]`)
        assert dists, f"{name} (imported by {sorted(files)}) is not installed here"
        if not dists & wanted:
            missing[name] = sorted(files)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_html_cleaner_trafilatura_needs_is_declared():
    """lxml >= 5.2 moved lxml.html.clean out; trafilatura (through justext) imports it on the first page."""
    assert "lxml-html-clean" in declared()
