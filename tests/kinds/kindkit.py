"""Helpers shared by the kinds tests (importable as `kindkit`: pytest puts this folder on sys.path)."""

from __future__ import annotations

import re

from clikit import (  # noqa: F401  (re-exported for the kind tests)
    FIXTURE_CORPUS,
    PROJECT_SOURCES,
    ROOT,
    Result,
    assert_in_order,
    assert_one_line_error,
)


def body_of(report: str) -> str:
    """The report without the code-written 数据核验 appendix."""
    return report.split("\n## 数据核验", 1)[0]


_CITED = re.compile(r"([^\[\]]*?)\[(\d{1,3})\]")


def cited_sentences(line: str) -> list[tuple[str, int]]:
    """(sentence, ref) for every "…。[n]" in a line, list markers and field labels removed."""
    line = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", line)
    line = re.sub(r"^(?:##\s*结论：|\*\*[^*]{1,12}\*\*[:：])", "", line)
    return [(m.group(1).strip(), int(m.group(2))) for m in _CITED.finditer(line) if m.group(1).strip()]
