"""The `commentary` kind (热点评论): a batch of short opinion articles, one per topic, in one file.

`yanbao run --kind commentary TOPIC [TOPIC...]` (or `--topics-file FILE`). For each topic: one search,
then small slots — title (headline + hook, joined with a colon by code), two lead paragraphs, an outline
of 3–5 section titles, each section's paragraphs, and the closing with questions to readers. Code
numbers the sections 一、二、三…, writes the closing line and the per-article reference list; the
runner appends one `## 数据核验` for the whole batch.

File name: `<date>-commentary-<slug of the first topic>.md` (the runner's default for this kind).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from pipeline.kinds import coverage
from pipeline.kinds.commentary.slots import (
    CommentaryClosing,
    CommentaryLead,
    CommentaryOutline,
    CommentarySection,
    CommentaryTitle,
)
from pipeline.kinds.contract import Composed, RunContext
from pipeline.kinds.support import (
    batch_topics,
    docs_of,
    fill,
    reference_rows,
    run_slots,
    search_material,
    settle,
    why,
)
from pipeline.models import SearchResult

TEMPLATE = "commentary.md.j2"
NUMERALS = "一二三四五六七八九十"
MAX_SOURCES = 6
DEFAULT_QUESTION = "你怎么看这件事？欢迎在评论区分享你的观点。"
M = TypeVar("M", bound=BaseModel)


@dataclass
class Article:
    index: int
    topic: str
    sources: list[SearchResult] = field(default_factory=list)
    error: str | None = None
    slots: dict[str, BaseModel | None] = field(default_factory=dict)  # by slot name; None: left out
    sections: list[CommentarySection | None] = field(default_factory=list)  # one per outline title
    coverage: coverage.Coverage | None = None  # how well its sources cover the topic, decided before writing

    @property
    def step(self) -> str:
        return f"commentary[{self.index}]"

    def slot(self, name: str, schema: type[M]) -> M | None:
        """Slot `name`'s answer (of `schema`), None when it was left out."""
        value = self.slots.get(name)
        return value if isinstance(value, schema) else None


def numeral(n: int) -> str:
    """1 → 一 … 10 → 十 (an outline has at most five sections)."""
    return NUMERALS[n - 1] if 1 <= n <= len(NUMERALS) else str(n)


def join_title(headline: str, hook: str) -> str:
    """"headline：hook" — the colon is code's, so every title has one."""
    head = re.sub(r"[：:。.！!，,\s]+$", "", headline.strip())
    hook = re.sub(r"^[：:\s]+", "", hook.strip()).rstrip("。. ")
    return f"{head}：{hook}" if hook else head


_OWN_NUMBER = re.compile(r"^\s*(?:[（(]?[一二三四五六七八九十]+[、.．)）]|[（(]?\d{1,2}[、.．)）]|第[一二三四五六七八九十\d]+(?:节|部分|章)?[：:、\s])\s*")


def section_title(title: str) -> str:
    """A section title without any numbering the model wrote itself (code numbers the sections)."""
    return _OWN_NUMBER.sub("", title.strip().strip("*").strip()) or title.strip()


def write(run: RunContext, a: Article) -> None:
    docs = docs_of(a.sources)
    env = run.env

    def call(name: str, schema: type[BaseModel], subtopic: str = "", queries: list[str] | None = None,
             outline: list[str] | None = None) -> Callable[[], BaseModel | None]:
        # The sources are quoted for the article's topic in every slot (not for the section's title), so all
        # the slots of an article share their prompt up to the slot's own part (prefix reuse).
        variables: dict[str, object] = {"topic": a.topic, "query": a.topic,
                                        "outline": outline if outline is not None else [], "section": subtopic}

        def go() -> BaseModel | None:
            env.journal.progress(f"评论 {a.index} · {name}")
            return fill(
                env, kind=f"commentary.{name.split('[')[0]}", step=f"{a.step}.{name}", schema=schema,
                topic=a.topic, docs=docs, prompt="commentary", variables=variables, subtopic=subtopic,
                queries=queries,
            )

        return go

    first = [("title", call("title", CommentaryTitle)), ("lead", call("lead", CommentaryLead)),
             ("outline", call("outline", CommentaryOutline))]
    parallel = run.pool_size > 1
    if parallel:  # the closing does not depend on the outline: let it run beside it
        first.append(("closing", call("closing", CommentaryClosing)))
    a.slots = run_slots(run.pool_size, first)
    outline = a.slot("outline", CommentaryOutline)
    titles = [section_title(t) for t in outline.titles] if outline else []
    sections = run_slots(run.pool_size, [
        (f"section[{i}]", call(f"section[{i}]", CommentarySection, subtopic=t, queries=titles, outline=titles))
        for i, t in enumerate(titles, start=1)
    ])
    if not parallel:
        a.slots["closing"] = call("closing", CommentaryClosing, queries=titles, outline=titles)()
    names = ["lead", *sections, "closing"]
    settled = settle(env, a.step, [n for n in names if n in a.slots or n in sections], {**a.slots, **sections},
                     {"lead": "导语", "section": "正文小节", "closing": "结语"})
    a.slots = {k: settled[k] for k in a.slots}
    a.sections = [s if isinstance(s, CommentarySection) else None
                  for s in (settled[f"section[{i}]"] for i in range(1, len(titles) + 1))]
    run.store.save_step(run.run_id, a.step, {
        **{k: v.model_dump() if v else None for k, v in a.slots.items()},
        "sections": [s.model_dump() if s else None for s in a.sections],
    })


def compose(run: RunContext) -> Composed:
    articles = [Article(index=i, topic=t) for i, t in enumerate(batch_topics(run), start=1)]
    for a in articles:
        found = search_material(run.env, a.topic, f"{a.step}.search")
        for r in found:
            if all(r.id != s.id for s in a.sources) and len(a.sources) < MAX_SOURCES:
                a.sources.append(r)
        if not a.sources:
            a.error = f"the search for “{a.topic}” found nothing"  # named in the report and in run.json
            continue
        a.coverage = coverage.coverage(a.topic, a.sources)
        if not a.coverage.covered:  # its sources are about something else: named, nothing unrelated written
            a.error = (f"资料未覆盖这一话题（覆盖度 {a.coverage.score:.2f}，低于阈值 {coverage.THRESHOLD:.2f}；"
                       f"最接近的一篇：{a.coverage.title or '无'}），没有写入无关内容")
            run.env.journal.degrade(f"{a.step}.coverage", (
                f"the sources do not cover “{a.topic}” (coverage {a.coverage.score:.2f} < "
                f"{coverage.THRESHOLD:.2f}); nothing unrelated is written for it"))
            continue
        write(run, a)

    done = [a for a in articles if a.error is None]
    refs: list[SearchResult] = []
    for a in done:
        refs.extend(s for s in a.sources if all(s.id != r.id for r in refs))
    filled = any(v is not None for a in done for v in [*a.slots.values(), *a.sections])
    views = [_view(run, a) for a in done]
    context: dict[str, object] = {
        "day": run.day,
        "articles": views,
        "failed": [{"topic": a.topic, "error": a.error} for a in articles if a.error],
    }
    manifest: dict[str, object] = {
        "title": views[0]["title"] if len(views) == 1 else f"热点评论（{run.day}）",  # front matter (publish.py)
        "tags": [a.topic for a in articles],
        "topics": [a.topic for a in articles],
        "articles": [
            {
                "topic": a.topic,
                "status": ("not covered" if a.coverage is not None and not a.coverage.covered
                           else "failed" if a.error else "done"),
                **({"error": a.error} if a.error else {}),
                "sources": [s.url for s in a.sources],
                "sections": len(a.sections),
                **({"coverage": coverage.manifest_entry(a.coverage)} if a.coverage is not None else {}),
            }
            for a in articles
        ],
    }
    return Composed(template=TEMPLATE, context=context, refs=refs, empty=not filled, manifest=manifest)


def _view(run: RunContext, a: Article) -> dict[str, object]:
    journal = run.env.journal
    title = a.slot("title", CommentaryTitle)
    lead = a.slot("lead", CommentaryLead)
    outline = a.slot("outline", CommentaryOutline)
    closing = a.slot("closing", CommentaryClosing)
    sections = [
        {
            "numeral": numeral(i),
            "title": section_title(t),
            "paragraphs": s.paragraphs if s else None,
            "why": why(journal, f"{a.step}.section[{i}]"),
        }
        for i, (t, s) in enumerate(zip(outline.titles if outline else [], a.sections, strict=False), start=1)
    ]
    questions = [q if q.rstrip().endswith(("？", "?")) else q.rstrip("。.！! ") + "？" for q in closing.questions] \
        if closing else [DEFAULT_QUESTION]
    return {
        "title": join_title(title.headline, title.hook) if title else f"{a.topic}：评论",
        "lead": lead.paragraphs if lead else None,
        "sections": sections,
        "closing": closing,
        "questions": [q for q in questions if q.strip("？? ")] or [DEFAULT_QUESTION],
        "references": reference_rows(a.sources),
        "why": {name: why(journal, f"{a.step}.{name}") for name in ("title", "lead", "outline", "closing")},
    }
