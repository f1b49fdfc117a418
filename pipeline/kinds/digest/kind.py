"""The `digest` kind (资讯深度解读): one deep-dive per news item, for a daily 资讯汇总 feed.

An item is a topic, a URL or a local document:

* topic — searched; the best hit is the item's main source (its publisher, date and link head the item);
* URL — read with the run's fetcher (recorded and cached in the run store like every page the run
  reads); related sources are searched by the page title. When the fetch fails, the failure is
  journaled (run.json's `search.fetch_errors` lists it from the run store) and the item goes on with a
  search for the words of the address;
* document — read with `pipeline.documents.read_document` (front matter: title, url, publisher, date).

For each item the LLM fills small slots (frame, question, metrics, judgements, the five parts, the
conclusion). Code writes everything else: the emoji (from the category), the numbering, the reference
list, the update log, the 关键数据指标 table — only rows whose number the facts check verifies — and
the credibility stars, which depend on the report's facts check: `Stars.rate` computes them from the
claims the check found in each item's section, and the template writes them.

`yanbao run --kind digest ITEM` writes one item; `yanbao digest ITEM...` writes the day's feed, one
section per item, in one file. An item without material is named in the report and in run.json; the
run fails only when no item had any.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar

from pydantic import BaseModel

from pipeline.kinds import coverage
from pipeline.kinds.contract import Composed, KindFailed, Rated, RunContext
from pipeline.kinds.digest.rules import (
    Credibility,
    credibility_detail,
    emoji_for,
    normalize_category,
    stars_text,
)
from pipeline.kinds.digest.slots import (
    DigestConclusion,
    DigestFrame,
    DigestJudgements,
    DigestMetrics,
    DigestPart,
    DigestQuestion,
)
from pipeline.kinds.support import (
    batch_topics,
    docs_of,
    fill,
    publisher_of,
    reference_rows,
    run_slots,
    search_material,
    settle,
    why,
)
from pipeline.models import SearchResult

if TYPE_CHECKING:
    from pipeline.facts.check import CheckedClaim

TEMPLATE = "digest.md.j2"
FEED_TITLE = "AI产品资讯汇总"
STAR_MARKS = "★☆"
UNRATED = stars_text(0)  # the stars before the facts check: the same width as any rating (see Stars)
MAX_SOURCES = 6  # the main source and up to five related ones
NO_METRICS = "（暂无经核实的数据）"

#: The five parts: slot name, heading (exactly as the spec writes it), share of the body.
PARTS: tuple[tuple[str, str], ...] = (
    ("technical", "第一部分：技术深度解析（40%）"),
    ("business", "第二部分：商业逻辑与经济模型（30%）"),
    ("competition", "第三部分：市场竞争格局与战略定位（15%）"),
    ("risk", "第四部分：风险治理与合规框架（10%）"),
    ("actions", "第五部分：行动建议与路线图（5%）"),
)
SLOTS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("frame", DigestFrame),
    ("question", DigestQuestion),
    ("metrics", DigestMetrics),
    ("judgements", DigestJudgements),
    *((name, DigestPart) for name, _ in PARTS),
    ("conclusion", DigestConclusion),
)
#: Slots whose points must not repeat one another (the frame, the metrics and the one-line conclusion
#: restate the item by design), in reading order, and how the report names them.
REPEAT_CHECKED = ("question", "judgements", *(name for name, _ in PARTS))
TITLES = {"question": "战略问题", "judgements": "战略判断", **{name: heading.split("（")[0] for name, heading in PARTS}}
_TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".text")
_URL_NOISE = frozenset(
    "www com cn net org html htm shtml php aspx jsp index news article articles blog blogs post posts p doc "
    "docs en us zh amp story stories content detail id page s a".split()
)


M = TypeVar("M", bound=BaseModel)


class MetricRow(TypedDict):
    """A verified row of 关键数据指标: the name, the value as the source writes it, its source's number."""

    name: str
    value: str
    ref: int | None


@dataclass
class Item:
    index: int
    given: str  # as the user wrote it
    form: str  # topic | url | document
    focus: str = ""  # what the slots are about: the topic, or the page's / document's title
    sources: list[SearchResult] = field(default_factory=list)
    error: str | None = None
    slots: dict[str, BaseModel | None] = field(default_factory=dict)  # by slot name (SLOTS); None: left out
    metrics: list[MetricRow] = field(default_factory=list)  # verified rows of 关键数据指标
    candidates: int = 0
    coverage: coverage.Coverage | None = None  # how well its sources cover it, decided before writing

    @property
    def covered(self) -> bool:
        return self.coverage is None or self.coverage.covered

    @property
    def step(self) -> str:
        return f"digest[{self.index}]"

    def slot(self, name: str, schema: type[M]) -> M | None:
        """Slot `name`'s answer (of `schema`, as SLOTS declares it), None when it was left out."""
        value = self.slots.get(name)
        return value if isinstance(value, schema) else None


def item_form(given: str) -> str:
    """`url` for http(s) addresses, `document` for an existing file or a text-file name, else `topic`."""
    if re.match(r"^https?://", given, re.I):
        return "url"
    try:
        if Path(given).is_file() or given.lower().endswith(_TEXT_SUFFIXES):
            return "document"
    except OSError:
        pass
    return "topic"


def url_words(url: str) -> str:
    """Search words from an address whose page could not be read: its path's words, e.g.
    https://example.com/news/nvidia-h20-china-sales.html → "nvidia h20 china sales"."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    words: list[str] = []
    for w in re.split(r"[/\-_.+=&?%\s]+", unquote(parts.path or "")):
        low = w.lower()
        if len(w) >= 2 and low not in _URL_NOISE and not w.isdigit() and low not in (x.lower() for x in words):
            words.append(w)
    return " ".join(words[:8])


# ---------------------------------------------------------------------------------------------
# Material
# ---------------------------------------------------------------------------------------------


def _document(path: Path) -> SearchResult:
    from pipeline.documents import read_document

    doc = read_document(path)
    return SearchResult(
        title=doc.title,
        url=doc.url,
        content=doc.body,
        publisher=str(doc.meta.get("publisher") or ""),
        date=str(doc.meta.get("date") or ""),
        engine="document",
        path=str(path.resolve()),
    )


def gather(run: RunContext, item: Item) -> None:
    """Find the item's sources (main source first); sets `item.error` when there is none at all."""
    env = run.env
    main: SearchResult | None = None
    query = item.given
    problem = ""
    if item.form == "url":
        page = env.fetcher.fetch(item.given, step=f"{item.step}.fetch") if env.fetcher is not None else None
        if page is not None and page.ok:
            main = page.to_search_result()
            query = page.title or url_words(item.given)
        else:
            error = "pages are not read in this run" if page is None else page.error or "no main text"
            problem = f"fetch failed ({error})"
            env.journal.degrade(f"{item.step}.fetch", f"{item.given}: {problem}; using search results instead")
            query = url_words(item.given)
    elif item.form == "document":
        from pipeline.documents import DocumentError

        try:
            main = _document(Path(item.given))
            query = main.title
        except DocumentError as exc:
            item.error = f"cannot read the document: {exc}"
            return
    found = search_material(env, query[:80], f"{item.step}.search") if query.strip() else []
    sources = [main] if main is not None else []
    for r in found:
        if all(r.id != s.id for s in sources) and len(sources) < MAX_SOURCES:
            sources.append(r)
    if not sources:
        what = f"{problem} and " if problem else ""
        searched = f"the search for “{query[:40]}” found nothing" if query.strip() else "there is nothing to search for"
        item.error = f"no material: {what}{searched}"
        return
    item.sources = sources
    item.focus = item.given if item.form == "topic" else (main.title if main is not None else query) or item.given


# ---------------------------------------------------------------------------------------------
# Slots
# ---------------------------------------------------------------------------------------------


def write_slots(run: RunContext, item: Item) -> None:
    docs = docs_of(item.sources)
    main = item.sources[0]
    variables: dict[str, object] = {"item": item.focus, "primary": f"{main.title}（{main.url}）"}

    def call(name: str, schema: type[BaseModel]) -> Callable[[], BaseModel | None]:
        def go() -> BaseModel | None:
            run.env.journal.progress(f"资讯 {item.index} · {name}")
            return fill(
                run.env, kind=f"digest.{name}", step=f"{item.step}.{name}", schema=schema, topic=item.focus,
                docs=docs, prompt="digest", variables=variables,
            )

        return go

    item.slots = run_slots(run.pool_size, [(name, call(name, schema)) for name, schema in SLOTS])
    item.slots = settle(run.env, item.step, [n for n in REPEAT_CHECKED if n in item.slots], item.slots, TITLES)
    run.store.save_step(run.run_id, item.step, {k: v.model_dump() if v else None for k, v in item.slots.items()})


def verified_metrics(run: RunContext, item: Item) -> list[MetricRow]:
    """Rows of 关键数据指标: each candidate's "name：value" goes through the facts check against the
    item's sources; a row is kept only when its value holds a number and every number in it is verified."""
    value = item.slot("metrics", DigestMetrics)
    if value is None:
        return []
    run.verifier.import_sources(item.sources)
    rows: list[MetricRow] = []
    seen: set[tuple[str, str]] = set()
    item.candidates = len(value.metrics)
    for m in value.metrics:
        name, number = m.name.strip(), re.sub(r"\[\d{1,3}\]", "", m.value).strip()
        text = f"{name}：{number}"
        report = run.verifier.check(text)
        start = len(name) + 1
        mine = [c for c in report.claims if c.end > start]
        if not mine or any(c.status != "verified" for c in mine) or (name, number) in seen:
            continue
        seen.add((name, number))
        ref = m.ref if 1 <= m.ref <= len(item.sources) else _ref_of(item.sources, mine[0])
        rows.append(MetricRow(name=name, value=number, ref=ref))
    return rows


def _ref_of(sources: list[SearchResult], claim: CheckedClaim) -> int | None:
    """The item's source behind a verified claim's evidence, when the model cited none that exists."""
    for e in claim.evidence:
        for i, s in enumerate(sources, start=1):
            if e.source and (e.source in (s.url, s.title, s.path or "") or (s.path and s.path.endswith(e.source))):
                return i
    return None


# ---------------------------------------------------------------------------------------------
# Compose
# ---------------------------------------------------------------------------------------------


def compose(run: RunContext) -> Composed:
    items = [Item(index=i, given=g, form=item_form(g)) for i, g in enumerate(batch_topics(run), start=1)]
    for item in items:
        gather(run, item)
        if item.error is None:
            item.coverage = coverage.coverage(item.focus, item.sources)
            if item.covered:
                write_slots(run, item)
                item.metrics = verified_metrics(run, item)
            else:  # its sources are about something else: one line, nothing unrelated
                run.env.journal.degrade(f"{item.step}.coverage", (
                    f"the sources do not cover “{item.focus}” (coverage {item.coverage.score:.2f} < "
                    f"{coverage.THRESHOLD:.2f}); nothing unrelated is written for it"))
    done = [it for it in items if it.error is None]
    if not done:
        reasons = "; ".join(f"{it.given}: {it.error}" for it in items)
        raise KindFailed(f"digest: no item could be written ({reasons})")

    refs: list[SearchResult] = []
    for it in done:
        if it.covered:
            refs.extend(s for s in it.sources if all(s.id != r.id for r in refs))
    manifest_items: list[dict[str, object]] = [
        {
            "item": it.given,
            "form": it.form,
            "status": "failed" if it.error else "done",
            **({"error": it.error} if it.error else {}),
            "sources": [s.url for s in it.sources],
            **({"metrics": {"candidates": it.candidates, "verified": len(it.metrics)}} if not it.error else {}),
            **({"coverage": coverage.manifest_entry(it.coverage)} if it.coverage is not None else {}),
        }
        for it in items
    ]
    views = [_view(run, it) for it in done]
    context: dict[str, object] = {
        "feed_title": FEED_TITLE,
        "items": views,
        "failed": [{"item": it.given, "error": it.error} for it in items if it.error],
    }
    empty = all(all(v is None for v in it.slots.values()) for it in done)
    manifest: dict[str, object] = {
        "topics": [it.given for it in items],
        "items": manifest_items,
        # For front matter and feeds (pipeline/run/publish.py): one item is titled by its headline.
        "title": views[0]["headline"] if len(views) == 1 else FEED_TITLE,
        "tags": list(dict.fromkeys(v["category"] for v in views if "category" in v)),
    }
    return Composed(
        template=TEMPLATE, context=context, refs=refs, empty=empty, rating=Stars(done, views, manifest_items),
        manifest=manifest, literals=tuple(h for _, h in PARTS),
    )


def _view(run: RunContext, it: Item) -> dict[str, object]:
    journal = run.env.journal
    if not it.covered:
        return _uncovered_view(run, it)
    frame = it.slot("frame", DigestFrame)
    main = it.sources[0]
    texts = [s.title + " " + s.text[:2000] for s in it.sources]
    category = normalize_category(frame.category if frame else "", texts)
    parts: list[dict[str, object]] = []
    for number, (name, heading) in enumerate(PARTS, start=1):
        value = it.slot(name, DigestPart)
        parts.append({
            "number": number,
            "heading": heading,
            "sections": value.sections if value else None,
            "why": why(journal, f"{it.step}.{name}"),
        })
    conclusion = it.slot("conclusion", DigestConclusion)
    return {
        "index": it.index,
        "uncovered": "",
        "emoji": emoji_for(category),
        "headline": frame.headline if frame else it.focus,
        "date": main.date or "（未注明）",
        "publisher": publisher_of(main),
        "url": main.url,
        "category": category,
        "stars": UNRATED,
        "thesis": frame.thesis if frame else it.focus,
        "question": it.slots.get("question"),
        "metrics": it.metrics,
        "no_metrics": NO_METRICS,
        "judgements": it.slots.get("judgements"),
        "parts": parts,
        "conclusion": conclusion.text if conclusion else None,
        "references": reference_rows(it.sources),
        "log": [f"{run.day}：首次生成（run `{run.run_id}`）"],
        "why": {name: why(journal, f"{it.step}.{name}") for name, _ in SLOTS},
    }


def _uncovered_view(run: RunContext, it: Item) -> dict[str, object]:
    """An item whose sources are about something else: its heading, its stars (at most ★★) and one line."""
    cov = it.coverage
    assert cov is not None  # `covered` is True without a coverage: only a judged item is uncovered
    return {
        "index": it.index,
        "uncovered": (f"资料未覆盖这一条目，检索到的资料说的是别的事（覆盖度 {cov.score:.2f}，低于阈值 "
                      f"{coverage.THRESHOLD:.2f}；最接近的一篇：{cov.title or '无'}），没有写入无关内容"),
        "emoji": emoji_for("行业动态"),
        "headline": it.focus,
        "category": "行业动态",
        "stars": UNRATED,
        "log": [f"{run.day}：首次生成（run `{run.run_id}`）"],
    }


@dataclass(frozen=True)
class Stars:
    """The credibility stars of each written item (`pipeline.kinds.digest.rules.credibility`), from the claims
    the report's facts check found in the item's section: the template marks where each item starts
    (`{{ section() }}`), the runner counts the claims of each status per section and calls `rate`.

    Stars are always five characters (★ and ☆), so the report before them (`UNRATED`) and with them
    are the same text for the facts check, which is not run again."""

    items: list[Item]  # the written items, in report order: one section each
    views: list[dict[str, object]]  # their template views
    entries: list[dict[str, object]]  # run.json `items`: every item, written or not, in the order given

    def rate(self, sections: list[Counter[str]]) -> Rated:
        if len(sections) != len(self.items):  # a template without one `section()` per item
            raise RuntimeError(f"digest: {len(sections)} sections in the report for {len(self.items)} items")
        details: dict[int, Credibility] = {
            it.index: credibility_detail(counts, it.sources, it.coverage.score if it.coverage is not None else None)
            for it, counts in zip(self.items, sections, strict=True)
        }
        views = [{**view, "stars": stars_text(details[it.index]["stars"])} for it, view in zip(self.items, self.views, strict=True)]
        entries = [{**e, "credibility": details[i]} if i in details else e for i, e in enumerate(self.entries, start=1)]
        manifest: dict[str, object] = {"items": entries}
        if details:  # the report's own score: its weakest item's (each item's is in `items`)
            stars = [d["stars"] for d in details.values()]
            manifest["credibility"] = {"stars": min(stars), "items": stars}
        return Rated(context={"items": views}, manifest=manifest, marks=STAR_MARKS)
