"""The facts check as the pipeline uses it: import what the run read, check the report, mark it.

Kept apart from `pipeline/facts/` (the general-purpose module behind `yanbao check`) because this is
where the run's policy lives: which sources are imported, which parts of a report are code-written
metadata rather than claims, and what a failed import does (it is journaled; the check goes on).

A run checks against facts of its own (`RUN_FACTS`, an in-memory store): the curated figures of its
sources folder (`facts.yaml`, the same file every run) and the sources the run read, nothing another
run imported. So a report's check, and its 数据核验 appendix, depend only on the run's own inputs, and
two reruns of a topic give the same appendix whatever ran in between. In memory because it is the
simplest store that is scoped by construction (no filtering of a shared store by source) and costs
nothing to throw away: importing the dozen or two sources of a run takes a fraction of a second
(their facts are extracted on a background thread while the run waits on the LLM, see `prefetch`),
and a default extractive run measured no slower than with the shared `outputs/facts.db`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.kinds.prompting import Journal
from pipeline.models import SearchResult

if TYPE_CHECKING:
    from jinja2 import Environment

    from pipeline.facts.check import CheckJSON, CheckReport


def unchecked_spans(body: str) -> list[tuple[int, int]]:
    """Spans written by code from metadata, not claims: the facts room decides (front matter, the
    report header, the 数据核验 appendix, source and reference lists, lines citing an http(s) or a
    file:// address, failure notices); see `pipeline.facts.check.unchecked_spans`."""
    from pipeline.facts.check import unchecked_spans as spans

    return spans(body)


#: The run's facts store: in memory, so it holds this run's facts only (see the module docstring).
RUN_FACTS = ":memory:"

# -- text the templates write is not a claim ------------------------------------------------------------

_NUMERAL = re.compile(r"[\d零一二三四五六七八九十百千万亿两半]")
_DECORATION = re.compile(r"^[>\s]*(?:#{1,6}[ \t]+)?(?:[-*+][ \t]+)?")
#: Section numbers written by code in headings: `#### 2.1 标题`, `### 1.2 标题`.
_HEADING_NUMBER = re.compile(r"^(#{1,6}[ \t]+)(\d+(?:\.\d+)*\.?)(?=[ \t])", re.M)
#: A heading that is a template word and a counter: `### 研究结果 1`, `### 分析结果 2`.
_COUNTED_HEADING = re.compile(r"^(#{1,6}[ \t]+)(\S+)[ \t]+(\d+)[ \t]*$", re.M)


def _core(line: str) -> str:
    """A line without its markdown decoration (quote, heading, list marker, emphasis)."""
    return _DECORATION.sub("", line).strip().strip("*_").strip()


@lru_cache(maxsize=4)
def _template_literals(dirs: tuple[Path, ...], env: Environment) -> frozenset[str]:
    from jinja2 import nodes

    found: set[str] = set()
    for path in sorted(p for d in dirs for p in d.rglob("*.j2")):
        tree = env.parse(path.read_text(encoding="utf-8"))
        texts = [n.data for n in tree.find_all(nodes.TemplateData)]
        texts += [n.value for n in tree.find_all(nodes.Const) if isinstance(n.value, str)]
        for text in texts:
            for line in text.splitlines():
                core = _core(line)
                if core and _NUMERAL.search(core):
                    found.add(core)
    return frozenset(found)


@lru_cache(maxsize=1)
def template_literals() -> frozenset[str]:
    """The lines the report templates write themselves (their literal text and the string constants
    they pass to macros, e.g. `label("12–24个月")`), decoration removed; only those with a numeral."""

    from pipeline.kinds.folders import template_dirs
    from pipeline.run.render import environment

    return _template_literals(template_dirs(), environment())


def template_spans(body: str, extra: frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    """Spans of `body` the templates (or the kind, `extra`: headings it writes from constants) wrote
    themselves: a whole line that is such text (`##### 12–24个月`, `##### 3–5年`), a heading's
    section number (`#### 2.1`), the counter of a heading made of a template word (`### 研究结果 1`).
    Numbers there are layout, not claims, so the run's own 数据核验 does not list them."""
    literals = template_literals() | {_core(x) for x in extra}
    words = {_core(line) for line in literals} | {"研究结果", "分析结果"}
    spans: list[tuple[int, int]] = []
    start = 0
    for line in body.splitlines(keepends=True):
        core = _core(line)
        if core and core in literals:
            spans.append((start, start + len(line)))
        start += len(line)
    spans += [m.span(2) for m in _HEADING_NUMBER.finditer(body)]
    spans += [m.span(3) for m in _COUNTED_HEADING.finditer(body) if m.group(2) in words]
    return spans


def without_template_text(report: CheckReport, body: str, extra: frozenset[str] = frozenset()) -> CheckReport:
    """The facts check's report less the claims inside text the templates wrote (`template_spans`),
    its summary recounted."""
    spans = template_spans(body, extra)
    if not spans:
        return report
    claims = [c for c in report.claims if not any(a <= c.start < b for a, b in spans)]
    if len(claims) == len(report.claims):
        return report
    summary = {k: 0 for k in report.summary}
    for c in claims:
        summary[c.status] = summary.get(c.status, 0) + 1
    return replace(report, claims=claims, summary=summary)


class Verifier:
    """Imports the run's sources into the facts store once, then checks any text against it."""

    def __init__(self, facts_path: Path | str, journal: Journal) -> None:
        from pipeline.facts.store import FactStore

        self.journal = journal
        self.store = FactStore(facts_path)
        self._imported: set[str] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self.literals: frozenset[str] = frozenset()  # text the kind writes from constants (Composed.literals)

    def load_curated(self, sources_dir: Path) -> None:
        """The corpus's curated figures (`facts.yaml`), when it has them."""
        curated = sources_dir / "facts.yaml"
        if curated.is_file():
            self.store.load_curated(curated)

    def prefetch(self, refs: list[SearchResult]) -> None:
        """Extract these sources' facts on a background thread while the run waits on the LLM; the
        import at the end then only writes rows (in reference order, so runs stay identical)."""
        from pipeline.documents import DocumentError, read_document
        from pipeline.facts.store import prepare_rows

        def work(items: list[SearchResult]) -> None:
            for src in items:
                try:
                    if src.path and Path(src.path).is_file():
                        doc = read_document(src.path)
                        prepare_rows(doc.body, doc.body_offset)
                    elif src.text.strip():
                        prepare_rows(src.text, 0)
                except (DocumentError, OSError):
                    pass  # the import at the end reports it

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yanbao-facts")
        self._pending.append(self._pool.submit(work, list(refs)))

    def import_sources(self, refs: list[SearchResult]) -> None:
        for fut in self._pending:
            fut.result()
        self._pending.clear()
        for src in refs:
            if src.id in self._imported:
                continue
            self._imported.add(src.id)
            try:
                if src.path and Path(src.path).is_file():
                    self.store.import_path(src.path)
                elif src.text.strip():
                    self.store.import_text(src.text, title=src.title, url=src.url, date=src.date)
            except Exception as exc:  # one bad source must not sink the check of all the others
                self.journal.degrade("facts.import", f"{src.url}: {exc}")

    def check(self, body: str) -> CheckReport:
        """Check `body`; claims inside code-written metadata (`unchecked_spans`) and inside text the
        templates wrote (`template_spans`) are left out. Returns the CheckReport."""
        from pipeline.facts.check import check_text

        return without_template_text(check_text(body, self.store), body, self.literals)

    def mark(self, body: str, report: CheckReport) -> tuple[str, CheckJSON]:
        """`body` with the contradicted claims of its check `report` marked (⚠) where they stand, and
        the check as JSON, whose offsets index the marked body (the report as written, as `yanbao check`
        reads it). The text is checked again only when a mark was added."""
        from pipeline.facts.check import mark_contradicted

        marked = mark_contradicted(body, report)
        if marked != body:
            report = self.check(marked)
        return marked, report.to_json()

    def check_final(self, body: str) -> tuple[str, CheckJSON]:
        """Check `body` and mark it (`mark`): the report as written and its check."""
        return self.mark(body, self.check(body))


def claims_by_section(report: CheckReport, starts: list[int]) -> list[Counter[str]]:
    """How many claims of each status (verified, contradicted, unsupported) stand in each section of the
    checked text; `starts` are where the sections begin, in order (`pipeline.run.render.render_sections`).
    A claim before the first section is in none."""
    counts: list[Counter[str]] = [Counter() for _ in starts]
    for c in report.claims:
        i = bisect_right(starts, c.start) - 1
        if i >= 0:
            counts[i][c.status] += 1
    return counts


def check_holds(draft: str, final: str, marks: str) -> bool:
    """Whether the check of `draft` is the check of `final` too: the same text but for characters that
    are all in `marks` on both sides (symbols that are never part of a claim or its words, such as the
    digest's ★☆ written into fixed-width fields). Then the claims and their offsets are the same."""
    if len(draft) != len(final):
        return False
    allowed = set(marks)
    return all(a == b or (a in allowed and b in allowed) for a, b in zip(draft, final, strict=True))
