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

from pathlib import Path

from pipeline.models import SearchResult
from pipeline.prompting import Journal


def unchecked_spans(body: str) -> list[tuple[int, int]]:
    """Spans written by code from metadata, not claims: the facts room decides (front matter, the
    report header, the 数据核验 appendix, source and reference lists, lines citing an http(s) or a
    file:// address, failure notices); see `pipeline.facts.check.unchecked_spans`."""
    from pipeline.facts.check import unchecked_spans as spans

    return spans(body)


#: The run's facts store: in memory, so it holds this run's facts only (see the module docstring).
RUN_FACTS = ":memory:"


class Verifier:
    """Imports the run's sources into the facts store once, then checks any text against it."""

    def __init__(self, facts_path: Path, journal: Journal) -> None:
        from pipeline.facts.store import FactStore

        self.journal = journal
        self.store = FactStore(facts_path)
        self._imported: set[str] = set()
        self._pool = None
        self._pending: list = []

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
            from concurrent.futures import ThreadPoolExecutor

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

    def check(self, body: str):
        """Check `body`; claims inside code-written metadata are left out. Returns the CheckReport."""
        from pipeline.facts.check import check_text

        return check_text(body, self.store)  # leaves out what `unchecked_spans` names

    def check_and_mark(self, body: str) -> tuple[str, dict]:
        """The body with contradicted claims marked where they stand, and the check as JSON."""
        from pipeline.facts.check import mark_contradicted

        report = self.check(body)
        return mark_contradicted(body, report), report.to_json()

    def check_final(self, draft: str, finalize=None) -> tuple[str, dict]:
        """Mark contradicted claims, let the kind `finalize(body, checks)` the text, and return the
        final body with its check, whose offsets index that final body (the report as written, as
        `yanbao check` reads it). The text is checked again only when marking or finalizing changed it."""
        body, checks = self.check_and_mark(draft)
        if finalize is not None:
            body = finalize(body, checks)
        if body != draft:
            checks = self.check(body).to_json()
        return body, checks
