"""Helpers shared by the kinds tests (importable as `kindkit`: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"
PROJECT_SOURCES = ROOT / "sources"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> Path:
        return Path(self.stdout.strip().splitlines()[-1])

    @property
    def text(self) -> str:
        return self.report.read_text(encoding="utf-8")

    @property
    def manifest(self) -> dict:
        return json.loads(self.report.with_name(self.report.name[:-3] + ".run.json").read_text(encoding="utf-8"))


def assert_in_order(text: str, needles: list[str]) -> None:
    pos = 0
    for needle in needles:
        found = text.find(needle, pos)
        assert found >= 0, f"missing or out of order: {needle!r}"
        pos = found + len(needle)


def assert_one_line_error(res: Result, code: int, *needles: str) -> None:
    assert res.code == code, (res.code, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("yanbao: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in res.stderr


def body_of(report: str) -> str:
    """The report without the code-written 数据核验 appendix."""
    return report.split("\n## 数据核验", 1)[0]


_CITED = re.compile(r"([^\[\]]*?)\[(\d{1,3})\]")


def cited_sentences(line: str) -> list[tuple[str, int]]:
    """(sentence, ref) for every "…。[n]" in a line, list markers and field labels removed."""
    line = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", line)
    line = re.sub(r"^(?:##\s*结论：|\*\*[^*]{1,12}\*\*[:：])", "", line)
    return [(m.group(1).strip(), int(m.group(2))) for m in _CITED.finditer(line) if m.group(1).strip()]
