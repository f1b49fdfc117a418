"""The commentary kind's extractive handlers: title, lead, outline, sections and closing, each from
verbatim source sentences; titles and reader questions are code-made from keywords and the topic
(`pipeline.llm.extractive`). Registered with the engine through `pipeline.kinds` (`SLOTS`).
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from pipeline.kinds.commentary.slots import (
    CommentaryClosing,
    CommentaryLead,
    CommentaryOutline,
    CommentarySection,
    CommentaryTitle,
)
from pipeline.llm.extractive import (
    FINDING_CUES,
    QUESTION_CUES,
    RISK,
    UNIT_WORDS,
    Degraded,
    ExtractiveLLM,
    ExtractiveSlots,
    advice_reserved,
    is_finding,
    lines,
    rescored,
    topic_words,
    without,
)
from pipeline.llm.extractive_rank import (
    Cand,
    cue_hits,
    group_title,
    keyword_scores,
    label,
    overlaps,
)
from pipeline.models import TaskContext

CLOSING_CUES = ("将", "预计", "未来", "长期", "有望", "应", "需要", "仍", "成为", "关键")


def _commentary_title(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Headline = the topic; hook = its two leading keywords (code-made, joined with a colon by the kind)."""
    slot = NAMES["commentary.title"]
    words = topic_words(eng, ctx, slot)
    head = ctx.topic.strip()[:30]
    hook = label([w for w in words if w not in head][:2], limit=40)
    if len(head) < 2 or len(hook) < 2:
        raise Degraded(f"与“{ctx.topic}”相关的资料中没有可作标题的关键词，无法填写{slot}")
    return CommentaryTitle(headline=head, hook=hook), []


def _commentary_lead(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Paragraph 1: the news (central sentences with figures); paragraph 2: what it puts in question
    (sentences with 但/挑战/不确定… cue words, else the next best)."""
    slot = NAMES["commentary.lead"]
    work = without(eng.work(ctx, slot, [ctx.topic], share=4), advice_reserved)
    news = work.take([c for c in rescored(work.free(), FINDING_CUES, digit=True) if is_finding(c)], 2, per_ref=1)
    ranked = rescored(work.free(), QUESTION_CUES)
    question = work.take([c for c in ranked if cue_hits(c.sent.low, QUESTION_CUES) or RISK.search(c.sent.text)], 2,
                         per_ref=1)
    if not news or not question:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足，无法写出两段{slot}")
    paragraphs = ["".join(lines(sorted(p, key=lambda c: c.place))) for p in (news, question)]
    return CommentaryLead(paragraphs=paragraphs), work.taken


def _commentary_outline(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Three to five section titles: keywords that each gather two unused relevant sentences or more,
    titled "<kw>与<kw2>" like 详细分析's groups. Uses no sentence up (the sections do)."""
    slot = NAMES["commentary.outline"]
    work = eng.work(ctx, slot, [ctx.topic])
    pool = sorted(work.cands, key=lambda c: c.order)
    units = [(c.ref, c.sent.token_list) for c in pool]
    heads = [w for w, _ in keyword_scores(units, exclude=work.exclude) if w not in UNIT_WORDS][:40]
    titles: list[str] = []
    used: list[str] = []
    for w in heads:
        if len(titles) == 4:
            break
        if any(overlaps(w, u) for u in used):
            continue
        members = [c for c in pool if w in c.sent.tokens]
        if len(members) < 2:
            continue
        title = group_title(members, w, [*work.exclude, *used, *UNIT_WORDS])
        used.extend(t.lower() for t in title.split("与") if t)
        used.append(w)
        titles.append(title)
    if len(titles) < 3:
        raise Degraded(f"与“{ctx.topic}”相关的资料只够列出{len(titles)}个小节（至少需要3个），无法填写{slot}")
    return CommentaryOutline(titles=titles), []


def _commentary_section(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """The unused sentences that name the section title's keywords, in source order, two per paragraph."""
    slot = NAMES["commentary.section"]
    words = [w.strip().lower() for w in re.split(r"[与、，,\s]+", ctx.subtopic) if len(w.strip()) >= 2]
    if not words:
        raise Degraded(f"小节标题“{ctx.subtopic}”没有可检索的关键词，无法填写{slot}")
    work = eng.work(ctx, slot, [ctx.topic], [ctx.subtopic], share=2)
    # recommendations are left for the closing (结语), which comes after the sections
    work.cands = [c for c in work.cands if any(w in c.sent.tokens or w in c.sent.low for w in words)
                  and not advice_reserved(c.sent.text)]
    picked = work.take(rescored(work.free(), words, digit=True), 4, per_ref=2)
    if not picked:
        raise Degraded(f"与小节“{ctx.subtopic}”相关的句子已全部用于前文，无法填写{slot}")
    ordered = sorted(picked, key=lambda c: c.place)
    paragraphs = ["".join(lines(ordered[i : i + 2])) for i in range(0, len(ordered), 2)]
    return CommentarySection(paragraphs=paragraphs[:3]), work.taken


def _commentary_closing(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Closing: one or two forward-looking sentences left unused; the reader questions are code-made from
    the topic and the first section title (ctx.queries carries the outline)."""
    slot = NAMES["commentary.closing"]
    work = eng.work(ctx, slot, [ctx.topic], share=1)
    fits = [c for c in rescored(work.free(), CLOSING_CUES) if cue_hits(c.sent.low, CLOSING_CUES)]
    picked = work.take(fits, 2, per_ref=1)
    if not picked:
        raise Degraded(f"与“{ctx.topic}”相关的未用句子中没有谈及前景或应对的句子，无法填写{slot}")
    questions = [f"你如何看待“{ctx.topic}”这件事？"]
    if ctx.queries:
        questions.append(f"围绕“{ctx.queries[0]}”，你认为接下来最值得关注的变化是什么？")
    closing = "".join(lines(sorted(picked, key=lambda c: c.place)))
    return CommentaryClosing(closing=closing, questions=questions), work.taken

NAMES = {
    "commentary.title": "评论标题",
    "commentary.lead": "导语",
    "commentary.outline": "小节提纲",
    "commentary.section": "小节正文",
    "commentary.closing": "结语与互动问题",
}
SLOTS = ExtractiveSlots(
    handlers={
        "commentary.title": _commentary_title,
        "commentary.lead": _commentary_lead,
        "commentary.outline": _commentary_outline,
        "commentary.section": _commentary_section,
        "commentary.closing": _commentary_closing,
    },
    names=NAMES,
)
