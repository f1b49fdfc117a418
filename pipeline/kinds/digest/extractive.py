"""The digest kind's extractive handlers: frame, question, metrics, judgements, the five parts and the
conclusion, each from verbatim source sentences; headlines and theses are code-made labels from keywords
(`pipeline.llm.extractive`). Registered with the engine through `pipeline.kinds` (`SLOTS`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from pipeline.kinds.digest.slots import (
    DigestConclusion,
    DigestFrame,
    DigestJudgements,
    DigestMetrics,
    DigestPart,
    DigestQuestion,
    KeyMetric,
)
from pipeline.llm.extractive import (
    ADVICE_CUES,
    CONCLUSION,
    FINDING_CUES,
    QUESTION_CUES,
    RISK,
    RISK_CUES,
    Degraded,
    ExtractiveLLM,
    ExtractiveSlots,
    Handler,
    advice_reserved,
    is_finding,
    is_forward,
    keyword_slot,
    lines,
    merge,
    recommends,
    rescored,
    schema_cues,
    series,
    topic_words,
    without,
)
from pipeline.llm.extractive_rank import (
    Cand,
    Sent,
    Terms,
    cue_hits,
    display,
    keyword_scores,
    label,
)
from pipeline.models import TaskContext
from pipeline.text import strip_citations, tokens

METRICS_MAX, METRICS_PER_SENTENCE = 6, 2
JUDGEMENT_CUES = ("将", "预计", "有望", "可能", "应", "需要", "意味着", "必须", "关键", "决定")


CONCLUSION_CUES = ("意味着", "表明", "标志", "总体", "关键", "将", "正在", "成为")


# kind: (slot name, cue words, groups, points per group, share of the unused relevant sentences)
DIGEST_PARTS: dict[str, tuple[str, tuple[str, ...], int, int, int]] = {
    "digest.technical": ("技术深度解析", ("技术", "架构", "性能", "算力", "带宽", "制程", "芯片", "模型", "参数", "训练",
                                      "推理", "规格", "内存", "封装", "版本", "互联", "工艺"), 2, 3, 3),
    "digest.business": ("商业逻辑与经济模型", ("收入", "营收", "成本", "价格", "利润", "毛利", "订单", "定价", "商业",
                                        "销售", "费用", "分成", "资本开支", "财年", "季度", "亿美元", "亿元"), 2, 2, 3),
    "digest.competition": ("市场竞争格局与战略定位", ("竞争", "份额", "对手", "替代", "国产", "格局", "领先", "厂商",
                                             "市场", "客户", "华为", "amd", "自研"), 1, 3, 2),
    "digest.risk": ("风险治理与合规框架", (*RISK_CUES, "监管", "合规", "许可", "政策", "出口", "审查", "安全"), 1, 2, 2),
    "digest.actions": ("行动建议与路线图", (*ADVICE_CUES, "预计", "计划", "将", "有望", "未来", "下一步", "布局"), 1, 2, 1),
}
_CLAUSE_BREAK = "，,；;：:。！!？?（(）)"
_NAME_TRIM = "了的为达约近超过至到和及与、是共在将已 "
_CONNECTORS = ("其中", "并且", "并", "而", "但", "同时", "此外", "另外", "其", "该", "这")


def _digest_frame(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Headline: the main source's own title when it names the topic, else "<topic>：<kw1>与<kw2>";
    thesis "<kw1>、<kw2>与<kw3>" from the main source's relevant sentences; category by cue words."""
    from pipeline.kinds.digest.rules import guess_category

    slot = NAMES["digest.frame"]
    words = topic_words(eng, ctx, slot)
    terms = Terms.build([ctx.topic])
    main = min(ctx.documents, key=lambda d: d.ref)
    title = re.sub(r"\s+", " ", main.title).strip()
    probe = Sent(text=title, norm="", pos=0, tokens=frozenset(tokens(title)), token_list=(), has_digit=False,
                 weak_start=False)
    head = ctx.topic.strip() if len(ctx.topic.strip()) <= 30 else label(words[:2], limit=30)
    hook = label(words[:2])
    if 4 <= len(title) <= 60 and terms.hits(probe):
        headline = title
    else:
        headline = f"{head}：{hook}" if hook and hook not in head else head
    gated = eng.gated(ctx.documents, terms)
    own = [(ref, s.token_list) for s, ref in gated if ref == main.ref]
    main_words = [w for w, _ in keyword_scores(own, exclude=[*terms.gate, ctx.topic.lower()])][:3]
    texts = [s.text for s, _ in gated]
    thesis = series([display(w, texts) for w in main_words] or words[:3])[:40] or head[:40]
    category = guess_category([ctx.topic, *texts])
    return DigestFrame(headline=headline[:60], category=category, thesis=thesis), []


def _digest_question(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """The question: the best sentence naming a problem, a challenge or an uncertainty; then the facts
    (sentences with figures) that frame it."""
    slot = NAMES["digest.question"]
    work = without(eng.work(ctx, slot, [ctx.topic], share=5), advice_reserved)
    cues = merge(QUESTION_CUES, schema_cues(schema, "question"))
    ranked = rescored(work.free(), cues)
    question = work.take([c for c in ranked if cue_hits(c.sent.low, cues) or RISK.search(c.sent.text)], 1)
    facts = work.take([c for c in rescored(work.free(), merge(FINDING_CUES, schema_cues(schema, "points")),
                                            digit=True) if is_finding(c)], 2, per_ref=1)
    if not question or not facts:
        what = "提出问题或挑战的句子" if not question else "陈述事实的句子"
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有{what}，无法填写{slot}")
    return DigestQuestion(question=lines(question)[0], points=lines(facts)), work.taken


def metric_name(sentence: str, start: int, end: int, others: Sequence[tuple[int, int]] = ()) -> str:
    """What a figure measures, in the source's words: its clause up to the number (from the previous figure
    on, if one stands between), plus a noun phrase after it that starts with 的 — e.g.
    "微软第四季度资本开支达到242亿美元" → "微软第四季度资本开支", "计提了45亿美元的相关费用" → "计提相关费用".
    `others` are the (start, end) spans of the sentence's other figures."""
    a = max(sentence.rfind(ch, 0, start) for ch in _CLAUSE_BREAK) + 1
    a = max([a, *(e for s_, e in others if e <= start)])
    tail = [i for i in (sentence.find(ch, end) for ch in _CLAUSE_BREAK) if i >= 0]
    tail += [s_ for s_, _ in others if s_ >= end]
    b = min(tail) if tail else len(sentence)
    before = strip_citations(sentence[a:start]).strip().rstrip(_NAME_TRIM)
    after = strip_citations(sentence[end:b]).strip()
    after = after.lstrip(_NAME_TRIM) if after.startswith("的") else ""
    for c in _CONNECTORS:
        if before.startswith(c) and len(before) > len(c) + 1:
            before = before[len(c):]
    name = re.sub(r"\s+", " ", f"{before}{after}").strip()
    return name[-40:] if len(name) >= 2 else ""


def _digest_metrics(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Candidate metrics: figures with a unit in the most relevant sentences, each named by its clause.
    They are candidates only — the digest keeps those the facts check verifies — and use no sentence up."""
    from pipeline.facts.extract import extract_claims, unit_class

    slot = NAMES["digest.metrics"]
    terms = Terms.build([ctx.topic])
    gated = eng.gated(ctx.documents, terms)
    if not gated:
        raise Degraded(f"未找到与“{ctx.topic}”相关的资料，无法填写{slot}")
    ranked = sorted(gated, key=lambda sr: (-round(terms.relevance(sr[0]), 9), sr[1], sr[0].pos))
    rows: list[KeyMetric] = []
    seen: set[tuple[str, str]] = set()
    for s, ref in ranked:
        if not s.has_digit:
            continue
        taken = 0
        claims = extract_claims(s.text)
        for c in claims:
            if not unit_class(c.unit) or taken == METRICS_PER_SENTENCE:
                continue
            name = metric_name(s.text, c.start, c.end, [(o.start, o.end) for o in claims if o is not c])
            if not name or (name, c.text) in seen:
                continue
            seen.add((name, c.text))
            rows.append(KeyMetric(name=name, value=c.text, ref=ref))
            taken += 1
        if len(rows) >= METRICS_MAX:
            break
    if not rows:
        raise Degraded(f"与“{ctx.topic}”相关的资料中没有带单位的数字，无法填写{slot}")
    return DigestMetrics(metrics=rows[:METRICS_MAX]), []


def _digest_judgements(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Forward-looking or prescriptive sentences (将/预计/应/需要…), best first."""
    slot = NAMES["digest.judgements"]
    work = eng.work(ctx, slot, [ctx.topic], share=4)
    cues = merge(JUDGEMENT_CUES, schema_cues(schema, "points"))
    fits = [c for c in rescored(work.free(), cues)
            if is_forward(c) or recommends(c) or CONCLUSION.search(c.sent.text)]
    picked = work.take(fits, 3, per_ref=2)
    if len(picked) < 2:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有两句判断（预计、将、应当、意味着…），无法填写{slot}")
    return DigestJudgements(points=lines(picked)), work.taken


def _digest_part(kind: str) -> Handler:
    name, cues, groups, points, share = DIGEST_PARTS[kind]

    def handler(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
        """Sentences carrying the part's cue words, grouped under keyword titles (like 详细分析)."""
        work = eng.work(ctx, name, [ctx.topic], share=share)
        if kind != "digest.actions":  # prescriptive sentences are left for 行动建议
            work = without(work, advice_reserved)
        if kind == "digest.risk":  # a risk names one; a policy word alone does not make a sentence a risk
            work.cands = [c for c in work.cands if RISK.search(c.sent.text) or cue_hits(c.sent.low, RISK_CUES)]
        elif kind == "digest.actions":  # what to do, or what comes next
            work.cands = [c for c in work.cands if recommends(c) or is_forward(c)]
        else:
            work.cands = [c for c in work.cands if cue_hits(c.sent.low, cues)]
        if not work.cands:
            raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子都不涉及{name}，无法填写该部分")
        return DigestPart(sections=keyword_slot(work, cues, groups, points)), work.taken

    return handler


def _digest_conclusion(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """One short, self-standing sentence (no 这/但 opener), the most central left, cue words preferred."""
    slot = NAMES["digest.conclusion"]
    work = eng.work(ctx, slot, [ctx.topic], share=1)
    short = [c for c in rescored(work.free(), CONCLUSION_CUES) if not c.sent.weak_start and len(c.sent.text) <= 90
             and (cue_hits(c.sent.low, CONCLUSION_CUES) or CONCLUSION.search(c.sent.text))]
    picked = work.take(short, 1)
    if not picked:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有适合作一句话结论的短句，无法填写{slot}")
    return DigestConclusion(text=lines(picked)[0]), work.taken

NAMES = {
    "digest.frame": "标题与分类",
    "digest.question": "战略问题",
    "digest.metrics": "关键数据指标",
    "digest.judgements": "战略判断",
    **{k: v[0] for k, v in DIGEST_PARTS.items()},
    "digest.conclusion": "结论",
}
SLOTS = ExtractiveSlots(
    handlers={
        "digest.frame": _digest_frame,
        "digest.question": _digest_question,
        "digest.metrics": _digest_metrics,
        "digest.judgements": _digest_judgements,
        **{kind: _digest_part(kind) for kind in DIGEST_PARTS},
        "digest.conclusion": _digest_conclusion,
    },
    names=NAMES,
)
