"""The three things other agents may ask of yanbao, as plain functions: check the numbers of a text,
search the facts store, write a report. The LangChain tool and the MCP server are thin wrappers.

The number check is the facts room's own: `check_numbers` builds a `FactStore` from what it is given
and calls `pipeline.facts.check.check_text(...).to_json()`, the function behind `yanbao check --json`,
so an agent gets exactly that command's JSON (claims with offsets into the text it sent, evidence, the
summary). Source texts go into an in-memory store, as a run's own facts do (`pipeline.run.verify`):
nothing a caller sends is written to a store on disk, and a facts DB the caller names is read, never
changed (with source texts as well, it is copied into memory first).

Every failure the caller can fix is a `ToolInputError` with a one-line message; the wrappers hand
it back to the agent as the tool's error.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from pipeline.models import JSONObject

if TYPE_CHECKING:
    from pipeline.facts.check import CheckJSON
    from pipeline.facts.store import FactStore

#: What the caller may send at most, per text (the same bound `yanbao check` puts on a file).
MAX_TEXT_CHARS = 20 * 1024 * 1024
SUMMARY_CHARS = 1200


class ToolInputError(Exception):
    """The call cannot be answered as made (no sources, a missing DB, a bad setting, a failed run).
    One line, meant for the agent (or person) who made the call."""


class SourceText(BaseModel):
    """One source the report's numbers are checked against: its text, and how evidence names it."""

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="来源全文")
    title: str = Field("", description="来源标题（核验证据中据此指称来源）")
    url: str = Field("", description="来源地址（可选；同一地址只计一次）")


class FactHit(BaseModel):
    """One stored fact, as `yanbao facts search --json` prints it."""

    text: str
    value: float
    value_hi: float | None
    unit: str
    source: str
    quote: str


# -- check ----------------------------------------------------------------------------------------


def check_numbers(
    report: str,
    sources: Sequence[SourceText | Mapping[str, object]] = (),
    *,
    sources_dir: str | Path | None = None,
    facts_db: str | Path | None = None,
) -> CheckJSON:
    """Check every number of `report` against the given sources and return `yanbao check --json`'s
    object: {"claims": [...], "summary": {"verified", "contradicted", "unsupported"}}, offsets
    indexing `report` as given. Sources: texts, a folder (`--sources DIR`, its facts.yaml too) and/or
    a facts DB (`--facts DB`); at least one."""
    from pipeline.facts.check import check_text
    from pipeline.facts.store import FactsError

    if not report.strip():
        raise ToolInputError("the report is empty: there is nothing to check")
    if len(report) > MAX_TEXT_CHARS:
        raise ToolInputError(f"the report is {len(report)} characters; the limit is {MAX_TEXT_CHARS}")
    texts = [s if isinstance(s, SourceText) else SourceText.model_validate(s) for s in sources]
    if not texts and sources_dir is None and facts_db is None:
        raise ToolInputError("nothing to check against: give source texts, a sources folder or a facts DB")
    try:
        with _store(texts, sources_dir, facts_db) as store:
            return check_text(report, store).to_json()
    except FactsError as exc:  # a malformed facts.yaml, an unreadable source: names the file
        raise ToolInputError(str(exc)) from None


@contextmanager
def _store(texts: list[SourceText], sources_dir: str | Path | None, facts_db: str | Path | None) -> Iterator[FactStore]:
    """The store to check against. A facts DB alone is opened where it is (as `yanbao check --facts DB`
    opens it); with anything to import, imports go into memory, or into a temporary copy of the DB, so
    the caller's store is never changed by a check."""
    from pipeline.facts.store import FactStore

    folder = Path(sources_dir).expanduser() if sources_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise ToolInputError(f"{folder}: no such sources folder")
    db = Path(facts_db).expanduser() if facts_db is not None else None
    if db is not None and not db.is_file():
        raise ToolInputError(f"{db}: no facts store there (create one with yanbao facts import PATH --facts {db})")
    with tempfile.TemporaryDirectory(prefix="yanbao-check-") as scratch:
        if db is None:
            path: Path | str = ":memory:"
        elif not texts and folder is None:
            path = db
        else:
            path = Path(scratch) / "facts.db"
            _copy_db(db, path)
        store = FactStore(path)
        try:
            if folder is not None:
                store.import_path(folder)
            for i, src in enumerate(texts, start=1):
                store.import_text(src.text, title=src.title or f"来源{i}", url=src.url or f"urn:yanbao:source:{i}")
            yield store
        finally:
            store.close()


def _copy_db(db: Path, dest: Path) -> None:
    """A consistent copy of a SQLite facts DB (SQLite's backup API: safe while a writer uses WAL)."""
    try:
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
        finally:
            out.close()
            src.close()
    except sqlite3.Error as exc:
        raise ToolInputError(f"{db}: cannot read the facts store: {exc}") from None


# -- search ---------------------------------------------------------------------------------------


def search_facts(query: str, *, facts_db: str | Path, limit: int = 20) -> list[JSONObject]:
    """Facts whose value equals `query` when it is a quantity (4550亿美元), else whose sentence, source
    or terms contain it: `yanbao facts search QUERY --json`'s list."""
    from pipeline.facts.check import quote_of
    from pipeline.facts.store import FactsError, FactStore

    if not query.strip():
        raise ToolInputError("the query is empty: give a word (甲骨文, RPO) or a quantity (4550亿美元)")
    db = Path(facts_db).expanduser()
    if not db.is_file():
        raise ToolInputError(f"{db}: no facts store there (create one with yanbao facts import PATH --facts {db})")
    try:
        with FactStore(db) as store:
            found = store.search(query, limit=max(1, min(limit, 500)))
    except FactsError as exc:
        raise ToolInputError(str(exc)) from None
    return [
        FactHit(text=f.text, value=f.value, value_hi=f.value_hi, unit=f.unit, source=f.source, quote=quote_of(f)).model_dump()
        for f in found
    ]


# -- write ----------------------------------------------------------------------------------------


class ReportSettings(BaseModel):
    """The settings an agent may choose for one report; anything left None comes from yanbao.toml and
    YANBAO_* as for `yanbao run`. The defaults make a report with no model and no network: the
    extractive engine over the local corpus."""

    kind: str = Field("research", description="research | digest | commentary")
    llm: str = Field("extractive", description="extractive | ollama | langchain | auto")
    search: str = Field("local", description="local | duckduckgo | auto")
    sources: str | None = Field(None, description="本地资料文件夹（默认为项目自带语料）")
    out: str | None = Field(None, description="输出文件夹（默认 outputs）")
    breadth: int | None = Field(None, ge=1, le=10, description="子主题数量上限")
    max_loops: int | None = Field(None, ge=1, le=10, description="每个子主题的检索轮数")
    model: str | None = Field(None, description="--llm ollama 的模型，如 qwen2.5:7b")
    langchain_model: str | None = Field(None, description="--llm langchain 的 provider:model")


def write_report(
    topic: str, settings: ReportSettings | None = None, *, config: str | Path | None = None
) -> JSONObject:
    """Run one report as `yanbao run TOPIC` would and say what it wrote: the markdown's path, every
    file, the run id, the facts check's summary, what was degraded, whether the sources covered the
    topic, and the report's own 执行摘要 (when its kind has one)."""
    from pipeline.config import ConfigError, load_settings
    from pipeline.run.runner import BadInput, ModelFailed, RunFailed, run_report

    chosen = settings or ReportSettings()
    flags = {**chosen.model_dump(), "quiet": True}
    try:
        resolved, _ = load_settings(flags, Path(config) if config is not None else None)
    except ConfigError as exc:
        raise ToolInputError(str(exc)) from None
    try:
        outcome = run_report(resolved, topic)
    except ModelFailed as exc:  # the report is kept for inspection; the caller should know it failed
        raise ToolInputError(str(exc)) from None
    except (BadInput, RunFailed) as exc:
        raise ToolInputError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise ToolInputError(f"the run could not write its files: {exc}") from None
    m = outcome.manifest
    text = outcome.report_path.read_text(encoding="utf-8")
    coverage = m.get("coverage") or {}
    return {
        "report": str(outcome.report_path),
        "files": [str(p) for p in outcome.files],
        "run_id": outcome.run_id,
        "kind": m.get("kind"),
        "provider": m["config"].get("provider"),
        "model": m["config"].get("model"),
        "checks": m.get("checks", {}),
        "degraded": [d.get("reason", "") for d in m.get("degraded", [])],
        "covered": not outcome.empty,
        "coverage_verdict": coverage.get("verdict"),
        "summary": executive_summary(text),
    }


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*)$", re.M)


def executive_summary(markdown: str, limit: int = SUMMARY_CHARS) -> str:
    """The text under the report's first 执行摘要 heading (research: `### 1. 执行摘要`; digest: `## 执行摘要：…`,
    whose heading carries the thesis), up to the next heading of its level or higher; "" when none."""
    for m in _HEADING.finditer(markdown):
        if "执行摘要" not in m.group(2):
            continue
        level = len(m.group(1))
        end = len(markdown)
        for h in _HEADING.finditer(markdown, m.end()):
            if len(h.group(1)) <= level:
                end = h.start()
                break
        thesis = m.group(2).split("：", 1)[1].strip() if "：" in m.group(2) else ""
        body = "\n".join(line for line in markdown[m.end():end].strip().splitlines() if not line.startswith("#"))
        text = "\n".join(part for part in (thesis, body.strip()) if part)
        return text if len(text) <= limit else text[: limit - 1] + "…"
    return ""
