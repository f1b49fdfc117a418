"""The research kind's extractive handlers: plan, query, summarize, reflect, the five analysis slots and
the four synthesis slots, each filled with verbatim source sentences (`pipeline.llm.extractive`).

Registered with the engine through `pipeline.kinds` (`SLOTS`); the engine's module holds the shared
machinery these use (sentence pools, `Work`, the role tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from pipeline.kinds.coverage import mentions, subject_units
from pipeline.kinds.research.slots import (
    Advice,
    Assessment,
    DetailedAnalysis,
    ExecutiveSummary,
    Findings,
    KeyFindings,
    Outlook,
    Plan,
    Query,
    Reflection,
    RunningSummary,
    Trends,
)
from pipeline.llm.extractive import (
    ADVICE_CUES,
    CONCLUSION,
    FINDING_CUES,
    RISK,
    RISK_CUES,
    Degraded,
    ExtractiveLLM,
    ExtractiveSlots,
    Work,
    advice_reserved,
    is_finding,
    is_forecast,
    is_forward,
    keyword_slot,
    lines,
    merge,
    recommends,
    rescored,
    schema_cues,
    score,
    series,
    without,
)
from pipeline.llm.extractive_rank import (
    Cand,
    Sent,
    Terms,
    cooccurrence,
    cue_hits,
    display,
    keyword_scores,
    label,
    overlaps,
    pieces,
    whole_words,
)
from pipeline.models import Group, TaskContext
from pipeline.text import strip_citations, tokens

# --- sizes -------------------------------------------------------------------------------------
FINDINGS_GROUPS, FINDINGS_POINTS = 3, 3
DETAIL_SECTIONS, DETAIL_POINTS = 5, 3

SUMMARY_NEW = 6  # new sentences per summarize call
SUMMARY_PER_SOURCE = 3  # so one long article does not fill a round alone
TREND_POINTS = 2
ASSESS_POINTS = 3
OUTLOOK_POINTS = 3
ADVICE_POINTS = 2
EXEC_SENTENCES = 5
KEY_POINTS = 6
GAP_WORDS = 3
TREND_CUES = ("趋势", "转向", "加速", "逐步", "越来越", "正在", "日益", "持续")
TREND_DIMENSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("需求侧", ("需求", "用户", "消费者", "采用", "渗透", "普及", "订单", "采购", "客户", "使用")),
    ("供给侧与基础设施", ("供给", "供应", "产能", "芯片", "算力", "数据中心", "供应链", "电力", "服务器", "gpu",
                   "代工", "基础设施", "存储")),
    ("技术路径", ("技术", "模型", "架构", "训练", "推理", "开源", "参数", "算法", "多模态", "智能体", "制程", "研发")),
    ("商业模式", ("商业", "收入", "营收", "订阅", "付费", "定价", "价格", "盈利", "成本", "变现", "利润", "毛利", "投资", "融资",
              "资本开支", "估值")),
    ("政策与治理", ("政策", "监管", "法规", "出口", "管制", "治理", "合规", "政府", "标准", "许可", "禁令", "制裁")),
)
STRENGTH_CUES = ("优势", "领先", "受益", "提升", "增长", "突破", "机遇", "利好", "改善", "扩大", "提高", "强劲",
                 "降低成本", "效率")
NEAR_CUES = ("预计", "今年", "明年", "即将", "下半年", "短期", "近期", "年内", "未来一年", "未来12个月", "下一季度")
LONG_CUES = ("长期", "未来几年", "未来五年", "未来十年", "中长期", "远期", "十年", "长远", "最终")
BASE_CUES = ("预计", "预测", "预期", "估计", "计划")
OPTIMISTIC_CUES = ("有望", "乐观", "突破", "超预期", "加速", "翻倍", "机遇")
CAUTIOUS_CUES = ("风险", "放缓", "下滑", "不确定", "谨慎", "担忧", "泡沫", "承压", "收紧")
IF_WILL = re.compile(r"(?:若|如果|一旦|假如)[^。！；]*?(?:将|会)")
IF_MAY = re.compile(r"(?:若|如果|一旦|假如)[^。！；]*?(?:可能|或将|恐)")
AUDIENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("企业用户", ("企业", "部署", "员工", "业务", "办公", "转型", "中小")),
    ("云与基础设施提供商", ("云", "数据中心", "算力", "服务器", "芯片", "运营商", "基础设施", "电力")),
    ("政策制定者", ("政策", "监管", "政府", "出口", "法规", "标准", "治理", "补贴", "管制")),
    ("投资者", ("投资", "估值", "资本开支", "营收", "股价", "融资", "市值", "回报", "利润")),
)


# A sentence that names its audience ("建议投资者应当关注…") belongs to it whatever else it mentions.
AUDIENCE_NAMES = {
    "企业用户": ("企业用户", "企业客户", "用户企业"),
    "云与基础设施提供商": ("云厂商", "云服务商", "算力提供商", "基础设施提供商", "运营商"),
    "政策制定者": ("政策制定者", "监管部门", "监管机构", "政府"),
    "投资者": ("投资者", "投资人", "投资机构"),
}
TREND = re.compile(
    r"趋势|转向|加速|逐步|越来越|正在|日益|持续|不断|攀升|跃升|翻倍|翻番|普及|兴起|走向|迁移|增长|上升|下降|提升|"
    r"扩大|放缓|提高|下滑|回落|走低|走高|扩张|收窄"
)
TREND_STRONG = re.compile(r"趋势|转向|正在|越来越|逐步|日益|走向")


def normalize_query(q: str) -> str:
    """Same comparison as the research stage: queries that differ only in spacing/punctuation are equal."""
    return re.sub(r"[\s\W_]+", "", q).lower()


STRENGTH_STRONG = ("优势", "领先", "受益", "利好", "机遇", "突破", "强劲")


def _assessing(c: Cand) -> bool:
    """A judgement of good or bad (风险, 短板 … 优势, 受益 …): material for 优缺点评估."""
    return RISK.search(c.sent.text) is not None or cue_hits(c.sent.text, STRENGTH_STRONG) > 0


def query_words(topic: str, subtopic: str) -> list[str]:
    """The sub-topic's own words: its parts split at punctuation and at 与 (the joiner of our plan labels),
    minus what merely repeats the topic."""
    parts: list[str] = []
    for chunk in re.split(r"[：:，,、；;（）()\s/]+", subtopic or ""):
        sides = chunk.split("与")
        chunks = sides if len(sides) > 1 and all(len(s) >= 2 for s in sides) else [chunk]
        for c in chunks:
            c = c.strip()
            if c and c not in topic and c not in parts:
                parts.append(c)
    return parts


def base_query(topic: str, subtopic: str) -> str:
    words = query_words(topic, subtopic)
    return " ".join([topic, *words]).strip()[:80]


def _plan(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Plan, list[Cand]]:
    """Sub-topics from distinct keyword clusters of the preview documents, labelled "<topic>：<kw1>与<kw2>"."""
    slot = NAMES["plan"]
    terms = Terms.build([ctx.topic])
    subject = subject_units(ctx.topic)
    units: list[tuple[object, tuple[str, ...]]] = []
    for d in sorted(ctx.documents, key=lambda d: d.ref):
        # A preview document is relevant when its title or any sentence names the topic; then all of its
        # sentences count, since sub-topics are what the topic's documents talk about besides the topic.
        parts = [(p, tokens(p)) for p in [d.title, *pieces(d.text)]]
        probes = [Sent(text=p, norm="", pos=0, tokens=frozenset(t), token_list=(), has_digit=False,
                       weak_start=False) for p, t in parts]
        if any(terms.hits(pr) and (not subject or mentions(subject, pr.text)) for pr in probes):
            units.extend((d.ref, whole_words(t)) for _, t in parts if t)
    if not units:
        raise Degraded(f"未找到与“{ctx.topic}”相关的资料，无法填写{slot}")
    reserve_summary(eng, ctx)
    ranked = keyword_scores(units, exclude=[*terms.gate, ctx.topic.lower()])[:40]
    if not ranked:
        raise Degraded(f"与“{ctx.topic}”相关的预览资料中没有可区分的关键词，无法填写{slot}")
    top = ranked[0][1]
    weight = {w: s / top for w, s in ranked}
    sets = [frozenset(t) for _, t in units]
    breadth = max(1, min(ctx.breadth, 10))
    chosen: list[str] = []
    labels: list[str] = []
    for _ in range(breadth):
        seed, seed_v = None, -1e9
        for w, _ in ranked:
            if any(overlaps(w, c) for c in chosen):
                continue
            v = round(weight[w] - 0.7 * max((cooccurrence(sets, w, c) for c in chosen), default=0.0), 9)
            if v > seed_v:
                seed, seed_v = w, v
        if seed is None:
            break
        chosen.append(seed)
        partner, part_v = None, 0.0
        for w, _ in ranked:
            if w == seed or any(overlaps(w, c) for c in chosen):
                continue
            v = round(cooccurrence(sets, seed, w) * weight[w], 9)
            if v > part_v:
                partner, part_v = w, v
        if partner:
            chosen.append(partner)
        texts = [d.text for d in ctx.documents]
        words = label([display(w, texts) for w in (seed, partner) if w])
        text = f"{ctx.topic}：{words}" if len(ctx.topic) + 1 + len(words) <= 30 else words
        if text not in labels:
            labels.append(text)
    return Plan(subtopics=labels), []


def _query(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Query, list[Cand]]:
    """Loop 1: the topic and the sub-topic's own words. A later loop (not asked by the pipeline) gets the
    same words as long as they are new; otherwise it is degraded and the stage derives one."""
    q = base_query(ctx.topic, ctx.subtopic)
    if len(q) < 2:
        raise Degraded(f"主题“{ctx.topic}”太短，无法构成{NAMES['query']}")
    if normalize_query(q) in {normalize_query(x) for x in ctx.queries}:
        raise Degraded("子主题的关键词已全部检索过，抽取式引擎无法提出新的搜索查询")
    return Query(query=q), []


def _summarize(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[RunningSummary, list[Cand]]:
    """This round's paragraph of the running summary: up to six new sentences of this round's sources, in
    source order (the worker appends it). The earlier summary's sentences are avoided (MMR), never repeated."""
    slot = NAMES["summarize"]
    # Eligibility comes from what is researched (topic, sub-topic), never from the query: a follow-up
    # query may carry generic words (数据, 风险) that would let unrelated sentences in.
    # A summary states what was found: recommendations, forecasts and risks are left for their own slots.
    work = eng.work(ctx, slot, [ctx.topic], [ctx.subtopic])
    work.cands = [c for c in work.cands
                  if not advice_reserved(c.sent.text) and not is_forecast(c.sent.text) and not RISK.search(c.sent.text)]
    cands = rescored(work.cands, FINDING_CUES, digit=True)
    work.avoid = [frozenset(tokens(p)) for p in pieces(strip_citations(ctx.summary))]
    work.budget = SUMMARY_NEW
    picked = work.take(cands, SUMMARY_NEW, per_ref=SUMMARY_PER_SOURCE)
    if not picked:
        raise Degraded(f"本轮新资料中没有与已有摘要不同的相关句子，{slot}保持不变")
    paragraph = "".join(lines(sorted(picked, key=lambda c: c.place)))
    return RunningSummary(summary=paragraph), picked


def _reflect(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Reflection, list[Cand]]:
    """Knowledge gap = frequent keywords of the worker's relevant sentences that the summary lacks; the
    follow-up query adds them to the sub-topic's words, and more of them until it is a new query."""
    slot = NAMES["reflect"]
    terms = Terms.build([ctx.topic], [ctx.subtopic, *ctx.queries])
    gated = eng.gated(ctx.documents, terms)
    if not gated:
        raise Degraded(f"未找到与“{ctx.topic}”相关的资料，无法填写{slot}")
    covered = strip_citations(ctx.summary).lower()
    asked = [t for q in ctx.queries for t in tokens(q)]
    ranked = [w for w, _ in keyword_scores([(ref, s.token_list) for s, ref in gated], exclude=terms.gate)]
    gaps = [w for w in ranked if w not in covered and not any(overlaps(w, a) for a in asked)]
    others = [w for w in ranked if w not in gaps and not any(overlaps(w, a) for a in asked)]
    base = base_query(ctx.topic, ctx.subtopic)
    seen = {normalize_query(q) for q in ctx.queries}

    def first_new(words: list[str]) -> tuple[str, list[str]] | None:
        """Start with GAP_WORDS words; add more until the query is new (the stage rejects repeats)."""
        for n in range(min(GAP_WORDS, len(words)), len(words) + 1):
            use = words[:n]
            for head in (base, " ".join(query_words(ctx.topic, ctx.subtopic)), ""):
                q = " ".join(x for x in [head, *use] if x).strip()
                if use and 2 <= len(q) <= 80 and normalize_query(q) not in seen:
                    return q, use
        return None

    texts = [s.text for s, _ in gated]
    gaps = [display(w, texts) for w in gaps]
    others = [display(w, texts) for w in others]
    found = first_new(gaps)
    if found is not None:
        query, used_words = found
        gap_text = "尚未覆盖：" + "、".join(gaps[: max(GAP_WORDS, len(used_words))][:6])
        return Reflection(knowledge_gap=gap_text, follow_up_query=query), []
    found = first_new(others)
    if found is not None:
        return Reflection(knowledge_gap="资料中的主要关键词已见于摘要", follow_up_query=found[0]), []
    raise Degraded(f"资料中没有尚未检索过的关键词，无法提出新的后续查询（{slot}）")


def _findings(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Findings, list[Cand]]:
    """Statements of fact (a figure, or 显示/表明/披露…) grouped under keyword titles."""
    # Risks and explicit strengths are left for 优缺点评估, which comes after this slot.
    work = analysis_work(eng, ctx, NAMES["analysis.findings"]).require(
        lambda c: is_finding(c) and not _assessing(c), "陈述事实或数据的句子")
    groups = keyword_slot(work, merge(FINDING_CUES, schema_cues(schema, "groups")), FINDINGS_GROUPS, FINDINGS_POINTS)
    if not groups:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足以写出{work.slot}")
    return Findings(groups=groups), work.taken


def _trends(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Trends, list[Cand]]:
    """One group per dimension that has sentences; a sentence goes to the dimension it names most."""
    slot = NAMES["analysis.trends"]
    # A judgement (风险, 优势…) is left for 优缺点评估, unless it names the direction itself (趋势, 转向, 正在…).
    work = analysis_work(eng, ctx, slot).require(
        lambda c: TREND.search(c.sent.text) is not None and (not _assessing(c) or TREND_STRONG.search(c.sent.text) is not None),
        "描述变化方向（增长、转向、加速…）的句子")
    trend = merge(TREND_CUES, schema_cues(schema, "groups"))
    by_dim: dict[str, list[Cand]] = {title: [] for title, _ in TREND_DIMENSIONS}
    for c in work.free():
        low = c.sent.text.lower()
        hits = [(cue_hits(low, cues), -i, title) for i, (title, cues) in enumerate(TREND_DIMENSIONS)]
        best = max(hits)
        if best[0] > 0:
            c.score = score(c, best[0] + min(cue_hits(low, trend), 1))
            by_dim[best[2]].append(c)
    groups = []
    points = max(1, min(TREND_POINTS, work.room() // len(TREND_DIMENSIONS)))
    for title, _ in TREND_DIMENSIONS:
        picked = work.take(sorted(by_dim[title], key=lambda c: c.order), points)
        if picked:
            groups.append(Group(title=title, points=lines(picked)))
    if not groups:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的趋势句子都不涉及需求、供给、技术、商业或政策，无法填写{slot}")
    return Trends(groups=groups), work.taken


def _assessment(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Assessment, list[Cand]]:
    """Strengths and risks by cue words; a sentence carrying both goes where it has more (risk on a tie:
    a mixed sentence is a caveat). A risk must name one (风险, 不确定, 瓶颈, 承压…): a bare "但" or "然而" is
    not a risk. When one side stays empty the slot says 资料不足 rather than taking the nearest sentence."""
    slot = NAMES["analysis.assessment"]
    work = analysis_work(eng, ctx, slot)
    strong = merge(STRENGTH_CUES, schema_cues(schema, "strengths"))
    risky = merge(RISK_CUES, schema_cues(schema, "risks"))

    def sides(cands: Iterable[Cand]) -> tuple[list[Cand], list[Cand]]:
        good: list[Cand] = []
        bad: list[Cand] = []
        for c in cands:
            low = c.sent.text.lower()
            st, r = cue_hits(low, strong), cue_hits(low, risky) + (1 if RISK.search(low) else 0)
            if r and r >= st:
                c.score = score(c, r)
                bad.append(c)
            elif st:
                c.score = score(c, st)
                good.append(c)
        return sorted(good, key=lambda c: c.order), sorted(bad, key=lambda c: c.order)

    good, bad = sides(work.free())
    risks = work.take(bad, ASSESS_POINTS)
    strengths = work.take(good, ASSESS_POINTS)
    taken = list(work.taken)
    if not strengths or not risks:
        # Forecasts are kept for the outlook, but one that states an upside or a risk is an assessment
        # too: look there before giving up on a side.
        try:
            extra = analysis_work(eng, ctx, slot, keep="forecast")
        except Degraded:
            extra = None
        if extra is not None:
            mine = {c.sent.norm for c in taken}
            extra.cands = [c for c in extra.cands if c.sent.norm not in mine]
            extra.taken = []
            good, bad = sides(extra.free())
            if not strengths:
                strengths = extra.take(good, 2)
            if not risks:
                risks = extra.take(bad, 2)
            taken += extra.taken
    if not strengths or not risks:
        side = "优势/利好" if not strengths else "短板/风险"
        raise Degraded(f"资料不足：资料中没有可归为“{side}”的相关句子，无法填写{slot}")
    return Assessment(strengths=lines(strengths), risks=lines(risks)), taken


def _outlook(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Outlook, list[Cand]]:
    """Forward-looking sentences only (预计, 将…, 计划, 若…将: `FORWARD`). Near term (this year and next,
    明年) vs long term (later years, 长期/未来几年) by cue words and years relative to `ref_year`; then one
    sentence per scenario: cautious (a risk: 风险, 放缓, 若…可能), optimistic (有望, 加速, 若…将), base (预计,
    预测, with neither). A scenario with no fitting sentence is left empty (the report says 资料不足)."""
    slot = NAMES["analysis.outlook"]
    work = analysis_work(eng, ctx, slot, keep="forecast").require(is_forward, "谈及前景（预计、将、计划…）的句子")
    work.budget = min(work.budget, max(2, len(work.cands) // 2))  # forecasts are few: leave some for the next worker
    near_cues = merge(NEAR_CUES, [c for c in schema_cues(schema, "near_term") if c != "将"])
    long_cues = merge(LONG_CUES, schema_cues(schema, "long_term"))
    near_years, long_years = eng.years(range(0, 2)), eng.years(range(2, 7))
    near: list[Cand] = []
    far: list[Cand] = []
    for c in work.free():
        low = c.sent.text.lower()
        n = cue_hits(low, near_cues) + cue_hits(low, near_years)
        f = cue_hits(low, long_cues) + cue_hits(low, long_years)
        if f and f >= n:
            c.score = score(c, f)
            far.append(c)
        elif n:
            c.score = score(c, n)
            near.append(c)
    if not near or not far:
        # Sources are dated: "this year and next" counted from today may be the past for them. Then the
        # forecasts they make are split by the year they name, the earlier half being the near term.
        ahead = sorted(work.free(), key=lambda c: (_first_year(c.sent.text), c.order))
        if len(ahead) >= 2:
            half = max(1, len(ahead) // 2)
            near, far = ahead[:half], ahead[half:]
            for c in ahead:
                c.score = score(c, 1)
    points = max(1, min(OUTLOOK_POINTS, (work.room() - 3) // 2))  # leave room for the three scenarios
    far_p = work.take(sorted(far, key=lambda c: c.order), points)
    near_p = work.take(sorted(near, key=lambda c: c.order), points)
    if not near_p or not far_p:
        side = "12–24个月" if not near_p else "3–5年"
        raise Degraded(f"资料不足：资料中没有谈及{side}前景的相关句子，无法填写{slot}")
    cases: dict[str, str] = {}
    risky = (*CAUTIOUS_CUES, "取消", "失败", "削减", "不及预期")

    def cautious(c: Cand) -> bool:
        return cue_hits(c.sent.text, risky, (IF_MAY,)) > 0 or RISK.search(c.sent.text) is not None

    def optimistic(c: Cand) -> bool:
        return cue_hits(c.sent.text, OPTIMISTIC_CUES, (IF_WILL,)) > 0 and not cautious(c)

    def base(c: Cand) -> bool:
        return cue_hits(c.sent.text, BASE_CUES) > 0 and not cautious(c) and not optimistic(c)

    for name, fits, cues, patterns in (
        ("cautious_case", cautious, risky, (IF_MAY,)),
        ("optimistic_case", optimistic, OPTIMISTIC_CUES, (IF_WILL,)),
        ("base_case", base, BASE_CUES, ()),
    ):
        pick = work.take([c for c in rescored(work.free(), cues, patterns) if fits(c)], 1)
        cases[name] = lines(pick)[0] if pick else ""
    value = Outlook(near_term=lines(near_p), long_term=lines(far_p), **cases)
    return value, work.taken


_YEAR = re.compile(r"(20\d\d)\s*年")


def _first_year(text: str) -> int:
    """The first year a sentence names (0 when none: an undated forecast counts as the nearer one)."""
    m = _YEAR.search(text)
    return int(m.group(1)) if m else 0


def _audience_hits(low: str, title: str, cues: Sequence[str]) -> int:
    """Cue words count 1, a named audience 2, and the audience a sentence addresses ("投资者应当…") 5."""
    names = AUDIENCE_NAMES[title]
    addressed = sum(1 for n in names if re.search(re.escape(n) + r"(?:应|需|要|宜|可以|不妨|必须)", low))
    return cue_hits(low, cues) + 2 * cue_hits(low, names) + 5 * addressed


def _advice_value(work: Work, schema: type[BaseModel], leave: bool = False) -> tuple[Advice, list[Cand]]:
    """Recommendations only (建议, 应当, 需要关注…: `RECOMMEND`), in audience groups by cue words (fixed
    titles); then `closing`: the most central recommendation or conclusion (意味着, 关键在于…) left.
    `leave`: take at most half of the fitting sentences, so that 结论和建议 at the end still has some."""
    advice = merge(ADVICE_CUES, schema_cues(schema, "groups"))
    by_aud: dict[str, list[Cand]] = {title: [] for title, _ in AUDIENCES}
    everything = list(work.cands)
    work.require(recommends, "提出建议（建议、应当、需要关注…）的句子")
    if leave:
        work.budget = min(work.budget, max(1, len(work.cands) // 2))
    for c in work.free():
        low = c.sent.text.lower()
        hits = [(_audience_hits(low, title, cues), -i, title) for i, (title, cues) in enumerate(AUDIENCES)]
        best = max(hits)
        if best[0] > 0:
            c.score = round(score(c, best[0]) + (0.25 if cue_hits(low, advice) else 0.0), 9)
            by_aud[best[2]].append(c)
    groups = []
    points = max(1, min(ADVICE_POINTS, (work.room() - 1) // len(AUDIENCES)))
    for title, _ in AUDIENCES:
        picked = work.take(sorted(by_aud[title], key=lambda c: c.order), points)
        if picked:
            groups.append(Group(title=title, points=lines(picked)))
    if not groups:
        raise Degraded(f"资料不足：资料中没有面向企业用户、云与基础设施提供商、政策制定者或投资者的建议，无法填写{work.slot}")
    # The closing line stands alone at the end: a full sentence (no 这/但 opener) that concludes (意味着,
    # 关键在于…) or, failing that, recommends.
    taken = {id(c) for c in work.taken}
    rest = sorted(
        (c for c in everything if id(c) not in taken and not c.sent.weak_start and len(c.sent.text) >= 20
         and (recommends(c) or CONCLUSION.search(c.sent.text))),
        key=lambda c: (not CONCLUSION.search(c.sent.text), -round(c.centrality + c.relevance, 9), c.ref, c.sent.pos),
    )
    work.budget = max(work.budget, len(work.taken) + 1)  # the closing line is never squeezed out
    closing = work.take(rest, 1)
    return Advice(groups=groups, closing=lines(closing)[0] if closing else ""), work.taken


def _advice(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Advice, list[Cand]]:
    return _advice_value(analysis_work(eng, ctx, NAMES["analysis.advice"], keep="advice"), schema, leave=True)


_NOTE_LABEL = re.compile(r"^\s*研究结果\s*\d+\s*[：:]\s*")


def _synthesis_work(eng: ExtractiveLLM, ctx: TaskContext, kind: str) -> Work:
    """The whole run's sources, gated by the topic and the sub-topics (read from the notes' labels
    "研究结果 n：<sub-topic>"): the final report covers what the workers researched."""
    subtopics = [_NOTE_LABEL.sub("", k) for k in ctx.notes if _NOTE_LABEL.match(k)]
    # The synthesis comes last: each slot may take an equal part of what the slots still to come will share.
    share = {"synthesis.summary": 4, "synthesis.details": 3, "synthesis.findings": 2}.get(kind, 1)
    work = eng.work(ctx, NAMES[kind], [ctx.topic], subtopics, share, reserved_ok=kind == "synthesis.summary")
    return work if kind == "synthesis.advice" else without(work, advice_reserved)


def _exec_summary(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[ExecutiveSummary, list[Cand]]:
    """One paragraph of statements of fact that name the topic's subject, opening with one that does: the
    sentences kept for it when the plan was made (`_reserve_summary`), then the best of the rest."""
    slot = NAMES["synthesis.summary"]
    subject = subject_units(ctx.topic)
    work = _synthesis_work(eng, ctx, "synthesis.summary").require(
        lambda c: is_finding(c) and (not subject or mentions(subject, c.sent.text)),
        f"提及“{series([u.text for u in subject])}”的事实陈述" if subject else "事实陈述")
    work.budget = max(work.budget, EXEC_SENTENCES)
    kept = sorted((c for c in work.cands if c.sent.norm in eng.reserved), key=lambda c: eng.reserved[c.sent.norm])
    picked = work.take(kept, EXEC_SENTENCES)
    picked = sorted(picked, key=lambda c: eng.reserved[c.sent.norm])
    picked += work.take(rescored(work.free(), FINDING_CUES, digit=True), EXEC_SENTENCES - len(picked), per_ref=2)
    if not picked:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有可写入{slot}的事实陈述")
    return ExecutiveSummary(text="".join(lines(picked))), work.taken


def _details(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[DetailedAnalysis, list[Cand]]:
    work = _synthesis_work(eng, ctx, "synthesis.details").require(is_finding, "陈述事实或数据的句子")
    sections = keyword_slot(work, FINDING_CUES, DETAIL_SECTIONS, DETAIL_POINTS)
    if not sections:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足以写出{work.slot}")
    return DetailedAnalysis(sections=sections), work.taken


def _key_findings(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[KeyFindings, list[Cand]]:
    work = _synthesis_work(eng, ctx, "synthesis.findings").require(is_finding, "陈述事实或数据的句子")
    cues = merge(schema_cues(schema, "points"), FINDING_CUES)
    picked = work.take(rescored(work.free(), cues, digit=True), KEY_POINTS, per_ref=2)
    if not picked:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足以写出{work.slot}")
    return KeyFindings(points=lines(picked)), work.taken


def _synthesis_advice(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Advice, list[Cand]]:
    return _advice_value(_synthesis_work(eng, ctx, "synthesis.advice"), schema)

def analysis_work(eng: ExtractiveLLM, ctx: TaskContext, slot: str, keep: str = "") -> Work:
    """The worker's pool for one analysis slot; `keep` names the reserved kind this slot may use
    ("advice", "forecast"); the other reserved kinds are left for their own slots."""
    work = eng.work(ctx, slot, [ctx.topic], [ctx.subtopic] if ctx.subtopic else [])
    if keep != "advice":
        work = without(work, advice_reserved)
    if keep not in ("advice", "forecast"):
        work = without(work, is_forecast)
    return work

def reserve_summary(eng: ExtractiveLLM, ctx: TaskContext) -> None:
    """Keep the executive summary's sentences before any other slot can take them: the best statements
    of fact (figures, findings) that name the topic's subject, from the plan's preview of the topic.
    Without this the summary, written last, gets what the thirty slots before it left over — and
    "英伟达H20对华销售" got an executive summary that never mentions H20."""
    subject = subject_units(ctx.topic)
    if not subject or eng.reserved:
        return
    try:
        work = eng.work(ctx, NAMES["synthesis.summary"], [ctx.topic])
    except Degraded:
        return
    pool = [c for c in work.cands if mentions(subject, c.sent.text) and is_finding(c)
            and not advice_reserved(c.sent.text) and not is_forecast(c.sent.text)]
    # A quarter of them at most: on thin material the research summaries need them more.
    work.budget = min(EXEC_SENTENCES, len(pool) // 4)
    picked = work.take(rescored(pool, FINDING_CUES, digit=True), EXEC_SENTENCES, per_ref=2)
    eng.reserve(picked)


# Slot names as the reader knows them, for degraded reasons.
NAMES = {
    "plan": "子主题",
    "query": "搜索查询",
    "summarize": "研究摘要",
    "reflect": "知识空白与后续查询",
    "analysis.findings": "关键发现与洞察",
    "analysis.trends": "趋势分析",
    "analysis.assessment": "优缺点评估",
    "analysis.outlook": "未来展望",
    "analysis.advice": "实用建议",
    "synthesis.summary": "执行摘要",
    "synthesis.details": "详细分析",
    "synthesis.findings": "关键发现",
    "synthesis.advice": "结论和建议",
}
SLOTS = ExtractiveSlots(
    handlers={
        "plan": _plan,
        "query": _query,
        "summarize": _summarize,
        "reflect": _reflect,
        "analysis.findings": _findings,
        "analysis.trends": _trends,
        "analysis.assessment": _assessment,
        "analysis.outlook": _outlook,
        "analysis.advice": _advice,
        "synthesis.summary": _exec_summary,
        "synthesis.details": _details,
        "synthesis.findings": _key_findings,
        "synthesis.advice": _synthesis_advice,
    },
    names=NAMES,
)
