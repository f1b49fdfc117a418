"""The extractive engine: fills every slot with verbatim source sentences, generating no text.

Why it exists: `yanbao run` must write a complete, grounded report on a machine with no Ollama and no
network. It sits behind the same `LLM` protocol as the Ollama engine, ignores the prompt, and works from
`task.context` (topic, sub-topic, running summary, documents) and `task.schema` (which slot, which cues).

How a slot is filled (machinery in `extractive_rank.py`):

* sentences: `split_sentences` per document (cached per document text), keeping only quotable ones;
* eligibility: a sentence must share a content word with the topic / sub-topic (the relevance gate), and
  must not have been emitted before by this engine instance: one instance serves one run, so no sentence
  appears twice in a report (a running summary carries its sentences forward, it does not repeat them);
* ranking: TextRank centrality (cached per document set) + relevance to the task's words + the slot's cue
  words (from our lists and from the schema's `cues`), then MMR for diversity;
* output: each sentence verbatim followed by `[ref]`; titles are code-made labels (keywords, or the fixed
  dimension / audience names), never sentences.

When a slot cannot be filled honestly it returns `Completion(value=None, degraded=<plain reason>)`
instead of padding it with unrelated sentences.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date

from pydantic import BaseModel, ValidationError

from pipeline.kinds.commentary.slots import (
    CommentaryClosing,
    CommentaryLead,
    CommentaryOutline,
    CommentarySection,
    CommentaryTitle,
)
from pipeline.kinds.coverage import THRESHOLD as COVERED
from pipeline.kinds.coverage import best_share, mentions, subject_units, topic_units
from pipeline.kinds.coverage import share as topic_share
from pipeline.kinds.digest.slots import (
    DigestConclusion,
    DigestFrame,
    DigestJudgements,
    DigestMetrics,
    DigestPart,
    DigestQuestion,
    KeyMetric,
)
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
from pipeline.llm.base import Completion, Task
from pipeline.llm.extractive_rank import (
    Cand,
    Fact,
    Sent,
    Terms,
    cooccurrence,
    cue_hits,
    display,
    document_sentences,
    emit,
    group_title,
    keyword_groups,
    keyword_scores,
    label,
    mmr,
    norm_key,
    overlaps,
    pieces,
    repeats,
    sentence_facts,
    sentence_keys,
    textrank,
    whole_words,
)
from pipeline.models import Doc, Group, TaskContext
from pipeline.textutil import strip_citations, tokens, word_tag

VERSION = "2"

# --- sizes -------------------------------------------------------------------------------------
SUMMARY_NEW = 6  # new sentences per summarize call
SUMMARY_PER_SOURCE = 3  # so one long article does not fill a round alone
FINDINGS_GROUPS, FINDINGS_POINTS = 3, 3
TREND_POINTS = 2
ASSESS_POINTS = 3
OUTLOOK_POINTS = 3
ADVICE_POINTS = 2
EXEC_SENTENCES = 5
DETAIL_SECTIONS, DETAIL_POINTS = 5, 3
KEY_POINTS = 6
GAP_WORDS = 3

# --- cue lists (our own; the schema's `cues` are added to the matching list at call time) --------
FINDING_CUES = ("显示", "表明", "发现", "达到", "增长", "占", "同比", "环比", "超过", "突破", "份额", "规模")
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
RISK_CUES = ("风险", "限制", "短缺", "下滑", "不确定", "管制", "挑战", "瓶颈", "压力", "担忧", "禁止",
             "制裁", "泡沫", "亏损", "过热", "紧张", "约束", "难以", "短板", "威胁", "收紧")
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
ADVICE_CUES = ("应", "需要", "建议", "关注", "必须", "值得")
# Prescriptive sentences ("建议投资者应当关注…") are advice, not findings: other analysis and synthesis slots
# leave them for the advice slot, which comes last and would otherwise find them taken.
ADVICE_RESERVED = ("建议", "应当", "应该", "需要关注", "值得关注")
# Forecasts and scenarios ("预计…", "到2030年…", "若…将…") belong to 未来展望: the analysis slots before it
# (findings, trends, assessment) leave them alone, as they leave advice to the advice slot.
FORECAST = re.compile(r"预计|预测|有望|到\s*20\d\d年|未来几年|未来五年|未来十年|长期|(?:若|如果|一旦)[^。！；]*?(?:将|会|可能)")

# --- slot roles: what a sentence must look like to fill a slot (measured on sources/, see README) -------
# A recommendation tells someone what to do; a quoted "值得关注" or a descriptive "需要…算力" does not.
RECOMMEND = re.compile(
    r"建议|应当|应该|不妨|务必|有必要|宜(?:先|在|把|将|于)|(?<![\"“])值得(?:关注|警惕|注意|重视)|"
    r"需要(?:关注|警惕|注意|重视|防范|评估|做好|提前|加快|把|在|建立|平衡|寻找|兼顾|分散|锁定)|"
    r"(?<![供相响反效适理对])应(?:在|把|将|从|以|尽快|加快|关注|警惕|提前|优先|分散|避免|确保)|"
    r"必须(?:关注|警惕|在|把|将)|要(?:警惕|避免|防范)|需(?:关注|警惕|防范)"
)
# Forward-looking: a forecast, a plan, a target, a condition — not a dated past event ("到2025年5月已超过…"):
# only these fill 未来展望, where a year counts as a horizon (near or long term, relative to `ref_year`).
FORWARD = re.compile(
    r"预计|预测|预期|有望|或将|可能会|将(?:会|在|于|达到|超过|继续|持续|成为|进一步|推出|保持|增加|提升|提高|下降|"
    r"带来|面临|迎来|加速|放缓|扩大|翻倍|受到|是|占|出现|再|逐步|显著|大幅|改变|推动|取决于|决定|形成)|"
    r"计划(?:于|在|到|将)|目标是|力争|届时|未来|明年|长期看|长远|下一代|即将|(?:若|如果|一旦)[^。！；]*?(?:将|会|可能)"
)
RISK = re.compile(
    r"风险|不确定|挑战|瓶颈|短缺|压力|担忧|泡沫|亏损|下滑|承压|制约|隐患|威胁|短板|难以|受限|紧张|过剩|闲置|拖累|"
    r"冲击|警惕|放缓|收紧|约束|限制"
)
TREND = re.compile(
    r"趋势|转向|加速|逐步|越来越|正在|日益|持续|不断|攀升|跃升|翻倍|翻番|普及|兴起|走向|迁移|增长|上升|下降|提升|"
    r"扩大|放缓|提高|下滑|回落|走低|走高|扩张|收窄"
)
TREND_STRONG = re.compile(r"趋势|转向|正在|越来越|逐步|日益|走向")
FINDING = re.compile(r"\d|显示|表明|发现|披露|统计|数据|报告|宣布|发布|达到|占")
CONCLUSION = re.compile(r"意味着|表明|说明|标志|总体|关键在于|核心|决定|取决于|归根结底|本质")

# Slot names as the reader knows them, for degraded reasons.
SLOT_NAMES = {
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


class Degraded(Exception):
    """A slot that cannot be filled honestly; the message is the plain reason shown to the user."""


def schema_cues(schema: type[BaseModel], field: str) -> tuple[str, ...]:
    """The `cues` a slot model declares on a field (models.py), so both engines read one schema."""
    info = schema.model_fields.get(field)
    extra = info.json_schema_extra if info is not None else None
    if isinstance(extra, dict):
        return tuple(str(c) for c in extra.get("cues", ()))
    return ()


def normalize_query(q: str) -> str:
    """Same comparison as the research stage: queries that differ only in spacing/punctuation are equal."""
    return re.sub(r"[\s\W_]+", "", q).lower()


def _merge(*lists: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for lst in lists:
        for c in lst:
            c = c.lower()
            if c and c not in out:
                out.append(c)
    return tuple(out)


class _Work:
    """One task's pool: the eligible, unused sentences with their base scores, and what this task took."""

    def __init__(self, cands: list[Cand], topic: str, slot: str, exclude: Sequence[str], share: int = 4) -> None:
        self.cands = cands
        self.topic = topic
        self.slot = slot
        self.exclude = tuple(exclude)
        self.taken: list[Cand] = []
        self.avoid: list[frozenset[str]] = []  # token sets the picks must not resemble (e.g. an earlier summary)
        # A slot may use at most 1/share of the unused relevant sentences: on a big corpus the sizes above
        # bind first, on a thin one the slots shrink instead of the later slots finding nothing left.
        self.budget = max(2, -(-len(cands) // share))

    def room(self) -> int:
        return max(0, self.budget - len(self.taken))

    def free(self) -> list[Cand]:
        ids = {id(c) for c in self.taken}
        return [c for c in self.cands if id(c) not in ids]

    def facts(self) -> list[Fact]:
        return [f for c in self.taken for f in sentence_facts(c.sent.text)]

    def take(self, members: Sequence[Cand], k: int, per_ref: int | None = None) -> list[Cand]:
        """MMR-pick up to k of `members` not yet taken by this task, one at a time, never one that states a
        fact (same number, same referent) this task already took; mark them taken."""
        k = min(k, self.room())
        ids = {id(c) for c in self.taken}
        pool = [c for c in members if id(c) not in ids]
        chosen: list[Cand] = []
        while len(chosen) < k and pool:
            facts = self.facts()
            quoted = {k for c in self.taken for k in c.sent.ids}
            counts: dict[int, int] = {}
            for c in chosen:
                counts[c.ref] = counts.get(c.ref, 0) + 1
            fit = [c for c in pool if (per_ref is None or counts.get(c.ref, 0) < per_ref)
                   and quoted.isdisjoint(c.sent.ids) and not repeats(sentence_facts(c.sent.text), facts)]
            pick = mmr(fit, 1, avoid=[*self.avoid, *(c.sent.tokens for c in self.taken)])
            if not pick:
                break
            self.taken.append(pick[0])
            chosen.append(pick[0])
            pool = [c for c in pool if c is not pick[0]]
        return chosen

    def require(self, fits: Callable[[Cand], bool], what: str) -> _Work:
        """Keep only the sentences that fit the slot's role; none → 资料不足 (never the nearest sentence)."""
        self.cands = [c for c in self.cands if fits(c)]
        if not self.cands:
            raise Degraded(f"资料不足：与“{self.topic}”相关的未用句子中没有{what}，无法填写{self.slot}")
        return self


def _without(work: _Work, reserved: Callable[[str], bool]) -> _Work:
    work.cands = [c for c in work.cands if not reserved(c.sent.text)]
    if not work.cands:
        raise Degraded(f"与“{work.topic}”相关的未用句子都留给了其他栏目，无法填写{work.slot}")
    return work


def _advice_reserved(text: str) -> bool:
    """A prescriptive sentence: left for the advice slots."""
    return cue_hits(text, ADVICE_RESERVED) > 0 or RECOMMEND.search(text) is not None


def _forecast(text: str) -> bool:
    """A forecast or scenario: left for the outlook."""
    return FORECAST.search(text) is not None


STRENGTH_STRONG = ("优势", "领先", "受益", "利好", "机遇", "突破", "强劲")


def _assessing(c: Cand) -> bool:
    """A judgement of good or bad (风险, 短板 … 优势, 受益 …): material for 优缺点评估."""
    return RISK.search(c.sent.text) is not None or cue_hits(c.sent.text, STRENGTH_STRONG) > 0


def _finding(c: Cand) -> bool:
    """A statement of fact: a figure (Arabic or Chinese: 四成, 两个数量级), a finding verb (显示, 表明,
    披露…), or a named subject: a Latin name (HBM, AWS) or a name jieba tags as one (组织, 人名, 地名, 专名)."""
    text = c.sent.text
    if FINDING.search(text) or sentence_facts(text) or re.search(r"[A-Za-z]{2,}", text):
        return True
    return any(word_tag(w) in ("nt", "nr", "ns", "nz") for w in c.sent.token_list)


def _score(c: Cand, cue: int = 0, digit: bool = False) -> float:
    """Base rank: centrality and relevance, plus the slot's cues; figures count for finding-like slots; a
    sentence opening with 这/但/此外 (it leans on a sentence the reader will not see) ranks a little lower."""
    s = 0.45 * c.centrality + 0.35 * c.relevance + 0.2 * min(cue, 2) / 2.0
    if digit and c.sent.has_digit:
        s += 0.05
    if c.sent.weak_start:
        s -= 0.08
    return round(s, 9)


def _rescored(cands: Iterable[Cand], cues: Sequence[str] = (), patterns: Sequence[re.Pattern[str]] = (),
              digit: bool = False) -> list[Cand]:
    out = []
    for c in cands:
        c.score = _score(c, cue_hits(c.sent.text.lower(), cues, patterns), digit)
        out.append(c)
    return sorted(out, key=lambda c: c.order)


def _lines(picked: Iterable[Cand]) -> list[str]:
    return [emit(c.sent, c.ref) for c in picked]


class ExtractiveLLM:
    """Extractive engine for one run. Keep one instance per run: it remembers the sentences it emitted."""

    provider = "extractive"
    model = "textrank-mmr"
    # It remembers which sentences it used, so a replayed answer would desynchronize that memory:
    # calls are recorded in the run store but never served from its cache.
    cacheable = False

    def __init__(self, ref_year: int | None = None) -> None:
        # Outlook sorts years into 12–24 months vs 3–5 years relative to this year; fixed per instance (and
        # part of the cache identity) so a run is reproducible.
        self.ref_year = ref_year or date.today().year
        self._lock = threading.RLock()
        self._used: set[str] = set()
        # Facts (number + referent) already in the report: a fact is stated once (`sentence_facts`).
        self._facts: list[Fact] = []
        self._seen_texts: set[str] = set()
        # Sentences kept for the executive summary (chosen when the plan is made, see `_reserve_summary`):
        # the slots before it leave them, and their facts, alone.
        self._reserved: dict[str, int] = {}
        self._reserved_facts: list[Fact] = []
        self._sentences: dict[str, tuple[Sent, ...]] = {}
        self._centrality: dict[tuple, dict[tuple[int, int], float]] = {}
        self._gate_cache: dict[tuple, list[tuple[Sent, int]]] = {}

    # --- protocol -------------------------------------------------------------------------------

    def cache_identity(self) -> dict:
        return {"provider": self.provider, "model": self.model, "version": VERSION, "ref_year": self.ref_year}

    def complete(self, task: Task) -> Completion:
        started = time.perf_counter()
        handler = _HANDLERS.get(task.kind)
        slot = SLOT_NAMES.get(task.kind, task.kind)
        if handler is None:
            return Completion(value=None, degraded=f"抽取式引擎不支持“{task.kind}”", seconds=0.0)
        with self._lock:
            self._remember_context(task.context)
            try:
                value, used = handler(self, task.context, task.schema)
                value = task.schema.model_validate(value.model_dump())
            except Degraded as why:
                return Completion(value=None, degraded=str(why), seconds=time.perf_counter() - started)
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                return Completion(
                    value=None,
                    degraded=f"抽取结果未通过{slot}的校验（{where}：{first.get('msg', '')}）",
                    seconds=time.perf_counter() - started,
                )
            for c in used:
                self._used.update(c.sent.ids)
                self._facts.extend(sentence_facts(c.sent.text))
        empty = [k for k, v in value.model_dump().items() if v == ""]
        return Completion(
            value=value,
            notes=[f"抽取式引擎：没有适合“{k}”的未用句子，留空" for k in empty],
            requests=0,
            prompt_tokens=0,
            completion_tokens=0,
            seconds=time.perf_counter() - started,
            raw=value.model_dump_json(),
        )

    # --- memory of emitted sentences ------------------------------------------------------------

    def observe(self, value: BaseModel | str) -> None:
        """Count the sentences of an answer this instance did not produce as used — e.g. one replayed from
        the run cache when a run resumes — so they are not emitted a second time."""
        texts: list[str] = []

        def walk(v: object) -> None:
            if isinstance(v, str):
                texts.append(v)
            elif isinstance(v, BaseModel):
                walk(v.model_dump())
            elif isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)

        walk(value)
        with self._lock:
            for t in texts:
                self._remember(t)

    def is_used(self, sentence: str) -> bool:
        return norm_key(strip_citations(sentence)) in self._used

    def _remember(self, text: str) -> None:
        """Report text written already: its sentences are used, its facts stated."""
        if not text or text in self._seen_texts:
            return
        self._seen_texts.add(text)
        self._used.update(sentence_keys(text))
        for piece in pieces(strip_citations(text)):
            for f in sentence_facts(piece):
                if not repeats([f], self._facts):
                    self._facts.append(f)

    def _remember_context(self, ctx: TaskContext) -> None:
        """Summaries and notes handed in are report text already: their sentences count as used."""
        for text in (ctx.summary, *ctx.notes.values()):
            self._remember(text)

    def _taken(self, s: Sent, reserved_ok: bool = False) -> bool:
        """Used already, kept for the executive summary, or stating a fact the report states already."""
        if any(k in self._used for k in s.ids):
            return True
        facts = sentence_facts(s.text)
        if s.norm in self._reserved:
            return not reserved_ok
        return repeats(facts, self._facts) or repeats(facts, self._reserved_facts)

    # --- pools ----------------------------------------------------------------------------------

    def _doc_sentences(self, doc: Doc) -> tuple[Sent, ...]:
        sents = self._sentences.get(doc.text)
        if sents is None:
            sents = document_sentences(doc.text)
            self._sentences[doc.text] = sents
        return sents

    def _gated(self, docs: Sequence[Doc], terms: Terms, topic: str = "") -> list[tuple[Sent, int]]:
        """Relevant sentences of the documents, each once (lowest ref wins), in (ref, position) order.
        Cached per (documents, terms, topic): the five analysis slots of a worker, and the four synthesis
        slots, each share one pool."""
        key = (tuple((d.ref, d.text) for d in sorted(docs, key=lambda d: (d.ref, d.source_id))), terms.key, topic)
        cached = self._gate_cache.get(key)
        if cached is None:
            cached = self._gate(docs, terms, topic)
            self._gate_cache[key] = cached
        return cached

    def _gate(self, docs: Sequence[Doc], terms: Terms, topic: str = "") -> list[tuple[Sent, int]]:
        """A sentence is relevant when it shares a word with the task (`terms`) and is about the topic
        (`pipeline.kinds.coverage`): its document covers the topic (a passage with share ≥ THRESHOLD), or the
        sentence itself does. "销售" alone does not make a sentence about "英伟达H20对华销售", nor does
        "英伟达" in an article about OpenAI's contracts that never mentions H20."""
        units = topic_units(topic) if topic else ()
        seen: set[str] = set()
        out: list[tuple[Sent, int]] = []
        for d in sorted(docs, key=lambda d: (d.ref, d.source_id)):
            covers = not units or best_share(units, [d])[0] >= COVERED
            for s in self._doc_sentences(d):
                if s.norm in seen or not terms.hits(s):
                    continue
                if not covers and topic_share(units, s.text) < COVERED:
                    continue
                seen.add(s.norm)
                out.append((s, d.ref))
        return out

    def _work(
        self, ctx: TaskContext, slot: str, broad: Sequence[str], focus: Sequence[str] = (), share: int = 4,
        reserved_ok: bool = False,
    ) -> _Work:
        """The task's pool, or Degraded with the reason when nothing relevant (or nothing unused) is left.
        Relevance blends the task's words (sub-topic words count double) with how much of the topic the
        sentence names (`pipeline.kinds.coverage.share`)."""
        terms = Terms.build(broad, focus)
        gated = self._gated(ctx.documents, terms, ctx.topic)
        if not gated:
            raise Degraded(f"未找到与“{ctx.topic}”相关的资料，无法填写{slot}")
        key = (tuple((d.ref, d.text) for d in sorted(ctx.documents, key=lambda d: d.ref)), terms.key, ctx.topic)
        cent = self._centrality.get(key)
        if cent is None:
            ranks = textrank([s.tokens for s, _ in gated])
            cent = {(ref, s.pos): r for (s, ref), r in zip(gated, ranks, strict=True)}
            self._centrality[key] = cent
        units = topic_units(ctx.topic)
        cands = [
            Cand(sent=s, ref=ref, centrality=cent[(ref, s.pos)],
                 relevance=round(0.5 * terms.relevance(s) + 0.5 * topic_share(units, s.text), 9))
            for s, ref in gated
            if not self._taken(s, reserved_ok)
        ]
        if not cands:
            raise Degraded(f"与“{ctx.topic}”相关的句子已全部用于前文，无法在不重复的前提下填写{slot}")
        for c in cands:
            c.score = _score(c)
        return _Work(cands, ctx.topic, slot, terms.gate, share)

    def _analysis_work(self, ctx: TaskContext, slot: str, keep: str = "") -> _Work:
        """The worker's pool for one analysis slot; `keep` names the reserved kind this slot may use
        ("advice", "forecast"); the other reserved kinds are left for their own slots."""
        work = self._work(ctx, slot, [ctx.topic], [ctx.subtopic] if ctx.subtopic else [])
        if keep != "advice":
            work = _without(work, _advice_reserved)
        if keep not in ("advice", "forecast"):
            work = _without(work, _forecast)
        return work

    def _reserve_summary(self, ctx: TaskContext) -> None:
        """Keep the executive summary's sentences before any other slot can take them: the best statements
        of fact (figures, findings) that name the topic's subject, from the plan's preview of the topic.
        Without this the summary, written last, gets what the thirty slots before it left over — and
        "英伟达H20对华销售" got an executive summary that never mentions H20."""
        subject = subject_units(ctx.topic)
        if not subject or self._reserved:
            return
        try:
            work = self._work(ctx, SLOT_NAMES["synthesis.summary"], [ctx.topic])
        except Degraded:
            return
        pool = [c for c in work.cands if mentions(subject, c.sent.text) and _finding(c)
                and not _advice_reserved(c.sent.text) and not _forecast(c.sent.text)]
        # A quarter of them at most: on thin material the research summaries need them more.
        work.budget = min(EXEC_SENTENCES, len(pool) // 4)
        picked = work.take(_rescored(pool, FINDING_CUES, digit=True), EXEC_SENTENCES, per_ref=2)
        self._reserved = {c.sent.norm: i for i, c in enumerate(picked)}
        self._reserved_facts = [f for c in picked for f in sentence_facts(c.sent.text)]

    def _years(self, offsets: range) -> tuple[str, ...]:
        return tuple(f"{self.ref_year + k}年" for k in offsets)


# ---------------------------------------------------------------------------------------------
# Research stages: plan, query, summarize, reflect
# ---------------------------------------------------------------------------------------------


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
    slot = SLOT_NAMES["plan"]
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
    eng._reserve_summary(ctx)
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
        raise Degraded(f"主题“{ctx.topic}”太短，无法构成{SLOT_NAMES['query']}")
    if normalize_query(q) in {normalize_query(x) for x in ctx.queries}:
        raise Degraded("子主题的关键词已全部检索过，抽取式引擎无法提出新的搜索查询")
    return Query(query=q), []


def _summarize(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[RunningSummary, list[Cand]]:
    """Extend the running summary with up to six new sentences of this round's sources, in source order.
    The earlier text is carried forward unchanged; its sentences are avoided (MMR) and never repeated."""
    slot = SLOT_NAMES["summarize"]
    # Eligibility comes from what is researched (topic, sub-topic), never from the query: a follow-up
    # query may carry generic words (数据, 风险) that would let unrelated sentences in.
    # A summary states what was found: recommendations, forecasts and risks are left for their own slots.
    work = eng._work(ctx, slot, [ctx.topic], [ctx.subtopic])
    work.cands = [c for c in work.cands
                  if not _advice_reserved(c.sent.text) and not _forecast(c.sent.text) and not RISK.search(c.sent.text)]
    cands = _rescored(work.cands, FINDING_CUES, digit=True)
    work.avoid = [frozenset(tokens(p)) for p in pieces(strip_citations(ctx.summary))]
    work.budget = SUMMARY_NEW
    picked = work.take(cands, SUMMARY_NEW, per_ref=SUMMARY_PER_SOURCE)
    if not picked:
        raise Degraded(f"本轮新资料中没有与已有摘要不同的相关句子，{slot}保持不变")
    paragraph = "".join(_lines(sorted(picked, key=lambda c: c.place)))
    text = f"{ctx.summary.rstrip()}\n\n{paragraph}" if ctx.summary.strip() else paragraph
    return RunningSummary(summary=text), picked


def _reflect(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Reflection, list[Cand]]:
    """Knowledge gap = frequent keywords of the worker's relevant sentences that the summary lacks; the
    follow-up query adds them to the sub-topic's words, and more of them until it is a new query."""
    slot = SLOT_NAMES["reflect"]
    terms = Terms.build([ctx.topic], [ctx.subtopic, *ctx.queries])
    gated = eng._gated(ctx.documents, terms)
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


# ---------------------------------------------------------------------------------------------
# Analysis and synthesis slots
# ---------------------------------------------------------------------------------------------


def _groups_of(work: _Work, picked: list[tuple[str, list[Cand]]]) -> list[Group]:
    return [Group(title=t, points=_lines(ms)) for t, ms in picked if ms]


def _keyword_slot(work: _Work, cues: Sequence[str], groups: int, points: int) -> list[Group]:
    # As many groups as the room allows with two points each, then as many points as fit.
    groups = max(1, min(groups, work.room() // 2))
    points = max(1, min(points, work.room() // groups))
    cands = _rescored(work.free(), cues, digit=True)
    out = keyword_groups(cands, groups, points, exclude=work.exclude, min_points=min(2, points))
    kept: list[tuple[str, list[Cand]]] = []
    for title, ms in out:  # one fact once: a point stating what an earlier point stated is dropped
        mine = []
        for c in ms:
            quoted = {k for t in work.taken for k in t.sent.ids}
            if quoted.isdisjoint(c.sent.ids) and not repeats(sentence_facts(c.sent.text), work.facts()):
                work.taken.append(c)
                mine.append(c)
        if mine:
            kept.append((title, mine))
    return _groups_of(work, kept)


def _findings(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Findings, list[Cand]]:
    """Statements of fact (a figure, or 显示/表明/披露…) grouped under keyword titles."""
    # Risks and explicit strengths are left for 优缺点评估, which comes after this slot.
    work = eng._analysis_work(ctx, SLOT_NAMES["analysis.findings"]).require(
        lambda c: _finding(c) and not _assessing(c), "陈述事实或数据的句子")
    groups = _keyword_slot(work, _merge(FINDING_CUES, schema_cues(schema, "groups")), FINDINGS_GROUPS, FINDINGS_POINTS)
    if not groups:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足以写出{work.slot}")
    return Findings(groups=groups), work.taken


def _trends(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Trends, list[Cand]]:
    """One group per dimension that has sentences; a sentence goes to the dimension it names most."""
    slot = SLOT_NAMES["analysis.trends"]
    # A judgement (风险, 优势…) is left for 优缺点评估, unless it names the direction itself (趋势, 转向, 正在…).
    work = eng._analysis_work(ctx, slot).require(
        lambda c: TREND.search(c.sent.text) is not None and (not _assessing(c) or TREND_STRONG.search(c.sent.text)),
        "描述变化方向（增长、转向、加速…）的句子")
    trend = _merge(TREND_CUES, schema_cues(schema, "groups"))
    by_dim: dict[str, list[Cand]] = {title: [] for title, _ in TREND_DIMENSIONS}
    for c in work.free():
        low = c.sent.text.lower()
        hits = [(cue_hits(low, cues), -i, title) for i, (title, cues) in enumerate(TREND_DIMENSIONS)]
        best = max(hits)
        if best[0] > 0:
            c.score = _score(c, best[0] + min(cue_hits(low, trend), 1))
            by_dim[best[2]].append(c)
    groups = []
    points = max(1, min(TREND_POINTS, work.room() // len(TREND_DIMENSIONS)))
    for title, _ in TREND_DIMENSIONS:
        picked = work.take(sorted(by_dim[title], key=lambda c: c.order), points)
        if picked:
            groups.append(Group(title=title, points=_lines(picked)))
    if not groups:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的趋势句子都不涉及需求、供给、技术、商业或政策，无法填写{slot}")
    return Trends(groups=groups), work.taken


def _assessment(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Assessment, list[Cand]]:
    """Strengths and risks by cue words; a sentence carrying both goes where it has more (risk on a tie:
    a mixed sentence is a caveat). A risk must name one (风险, 不确定, 瓶颈, 承压…): a bare "但" or "然而" is
    not a risk. When one side stays empty the slot says 资料不足 rather than taking the nearest sentence."""
    slot = SLOT_NAMES["analysis.assessment"]
    work = eng._analysis_work(ctx, slot)
    strong = _merge(STRENGTH_CUES, schema_cues(schema, "strengths"))
    risky = _merge(RISK_CUES, schema_cues(schema, "risks"))

    def sides(cands: Iterable[Cand]) -> tuple[list[Cand], list[Cand]]:
        good: list[Cand] = []
        bad: list[Cand] = []
        for c in cands:
            low = c.sent.text.lower()
            st, r = cue_hits(low, strong), cue_hits(low, risky) + (1 if RISK.search(low) else 0)
            if r and r >= st:
                c.score = _score(c, r)
                bad.append(c)
            elif st:
                c.score = _score(c, st)
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
            extra = eng._analysis_work(ctx, slot, keep="forecast")
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
    return Assessment(strengths=_lines(strengths), risks=_lines(risks)), taken


def _forward(c: Cand) -> bool:
    return FORWARD.search(c.sent.text) is not None


def _outlook(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Outlook, list[Cand]]:
    """Forward-looking sentences only (预计, 将…, 计划, 若…将: `FORWARD`). Near term (this year and next,
    明年) vs long term (later years, 长期/未来几年) by cue words and years relative to `ref_year`; then one
    sentence per scenario: cautious (a risk: 风险, 放缓, 若…可能), optimistic (有望, 加速, 若…将), base (预计,
    预测, with neither). A scenario with no fitting sentence is left empty (the report says 资料不足)."""
    slot = SLOT_NAMES["analysis.outlook"]
    work = eng._analysis_work(ctx, slot, keep="forecast").require(_forward, "谈及前景（预计、将、计划…）的句子")
    work.budget = min(work.budget, max(2, len(work.cands) // 2))  # forecasts are few: leave some for the next worker
    near_cues = _merge(NEAR_CUES, [c for c in schema_cues(schema, "near_term") if c != "将"])
    long_cues = _merge(LONG_CUES, schema_cues(schema, "long_term"))
    near_years, long_years = eng._years(range(0, 2)), eng._years(range(2, 7))
    near: list[Cand] = []
    far: list[Cand] = []
    for c in work.free():
        low = c.sent.text.lower()
        n = cue_hits(low, near_cues) + cue_hits(low, near_years)
        f = cue_hits(low, long_cues) + cue_hits(low, long_years)
        if f and f >= n:
            c.score = _score(c, f)
            far.append(c)
        elif n:
            c.score = _score(c, n)
            near.append(c)
    if not near or not far:
        # Sources are dated: "this year and next" counted from today may be the past for them. Then the
        # forecasts they make are split by the year they name, the earlier half being the near term.
        ahead = sorted(work.free(), key=lambda c: (_first_year(c.sent.text), c.order))
        if len(ahead) >= 2:
            half = max(1, len(ahead) // 2)
            near, far = ahead[:half], ahead[half:]
            for c in ahead:
                c.score = _score(c, 1)
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
        pick = work.take([c for c in _rescored(work.free(), cues, patterns) if fits(c)], 1)
        cases[name] = _lines(pick)[0] if pick else ""
    value = Outlook(near_term=_lines(near_p), long_term=_lines(far_p), **cases)
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


def _recommends(c: Cand) -> bool:
    return RECOMMEND.search(c.sent.text) is not None


def _advice_value(work: _Work, schema: type[BaseModel], leave: bool = False) -> tuple[Advice, list[Cand]]:
    """Recommendations only (建议, 应当, 需要关注…: `RECOMMEND`), in audience groups by cue words (fixed
    titles); then `closing`: the most central recommendation or conclusion (意味着, 关键在于…) left.
    `leave`: take at most half of the fitting sentences, so that 结论和建议 at the end still has some."""
    advice = _merge(ADVICE_CUES, schema_cues(schema, "groups"))
    by_aud: dict[str, list[Cand]] = {title: [] for title, _ in AUDIENCES}
    everything = list(work.cands)
    work.require(_recommends, "提出建议（建议、应当、需要关注…）的句子")
    if leave:
        work.budget = min(work.budget, max(1, len(work.cands) // 2))
    for c in work.free():
        low = c.sent.text.lower()
        hits = [(_audience_hits(low, title, cues), -i, title) for i, (title, cues) in enumerate(AUDIENCES)]
        best = max(hits)
        if best[0] > 0:
            c.score = round(_score(c, best[0]) + (0.25 if cue_hits(low, advice) else 0.0), 9)
            by_aud[best[2]].append(c)
    groups = []
    points = max(1, min(ADVICE_POINTS, (work.room() - 1) // len(AUDIENCES)))
    for title, _ in AUDIENCES:
        picked = work.take(sorted(by_aud[title], key=lambda c: c.order), points)
        if picked:
            groups.append(Group(title=title, points=_lines(picked)))
    if not groups:
        raise Degraded(f"资料不足：资料中没有面向企业用户、云与基础设施提供商、政策制定者或投资者的建议，无法填写{work.slot}")
    # The closing line stands alone at the end: a full sentence (no 这/但 opener) that concludes (意味着,
    # 关键在于…) or, failing that, recommends.
    taken = {id(c) for c in work.taken}
    rest = sorted(
        (c for c in everything if id(c) not in taken and not c.sent.weak_start and len(c.sent.text) >= 20
         and (_recommends(c) or CONCLUSION.search(c.sent.text))),
        key=lambda c: (not CONCLUSION.search(c.sent.text), -round(c.centrality + c.relevance, 9), c.ref, c.sent.pos),
    )
    work.budget = max(work.budget, len(work.taken) + 1)  # the closing line is never squeezed out
    closing = work.take(rest, 1)
    return Advice(groups=groups, closing=_lines(closing)[0] if closing else ""), work.taken


def _advice(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Advice, list[Cand]]:
    return _advice_value(eng._analysis_work(ctx, SLOT_NAMES["analysis.advice"], keep="advice"), schema, leave=True)


_NOTE_LABEL = re.compile(r"^\s*研究结果\s*\d+\s*[：:]\s*")


def _synthesis_work(eng: ExtractiveLLM, ctx: TaskContext, kind: str) -> _Work:
    """The whole run's sources, gated by the topic and the sub-topics (read from the notes' labels
    "研究结果 n：<sub-topic>"): the final report covers what the workers researched."""
    subtopics = [_NOTE_LABEL.sub("", k) for k in ctx.notes if _NOTE_LABEL.match(k)]
    # The synthesis comes last: each slot may take an equal part of what the slots still to come will share.
    share = {"synthesis.summary": 4, "synthesis.details": 3, "synthesis.findings": 2}.get(kind, 1)
    work = eng._work(ctx, SLOT_NAMES[kind], [ctx.topic], subtopics, share, reserved_ok=kind == "synthesis.summary")
    return work if kind == "synthesis.advice" else _without(work, _advice_reserved)


def _exec_summary(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[ExecutiveSummary, list[Cand]]:
    """One paragraph of statements of fact that name the topic's subject, opening with one that does: the
    sentences kept for it when the plan was made (`_reserve_summary`), then the best of the rest."""
    slot = SLOT_NAMES["synthesis.summary"]
    subject = subject_units(ctx.topic)
    work = _synthesis_work(eng, ctx, "synthesis.summary").require(
        lambda c: _finding(c) and (not subject or mentions(subject, c.sent.text)),
        f"提及“{_series([u.text for u in subject])}”的事实陈述" if subject else "事实陈述")
    work.budget = max(work.budget, EXEC_SENTENCES)
    kept = sorted((c for c in work.cands if c.sent.norm in eng._reserved), key=lambda c: eng._reserved[c.sent.norm])
    picked = work.take(kept, EXEC_SENTENCES)
    picked = sorted(picked, key=lambda c: eng._reserved[c.sent.norm])
    picked += work.take(_rescored(work.free(), FINDING_CUES, digit=True), EXEC_SENTENCES - len(picked), per_ref=2)
    if not picked:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有可写入{slot}的事实陈述")
    return ExecutiveSummary(text="".join(_lines(picked))), work.taken


def _details(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[DetailedAnalysis, list[Cand]]:
    work = _synthesis_work(eng, ctx, "synthesis.details").require(_finding, "陈述事实或数据的句子")
    sections = _keyword_slot(work, FINDING_CUES, DETAIL_SECTIONS, DETAIL_POINTS)
    if not sections:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足以写出{work.slot}")
    return DetailedAnalysis(sections=sections), work.taken


def _key_findings(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[KeyFindings, list[Cand]]:
    work = _synthesis_work(eng, ctx, "synthesis.findings").require(_finding, "陈述事实或数据的句子")
    cues = _merge(schema_cues(schema, "points"), FINDING_CUES)
    picked = work.take(_rescored(work.free(), cues, digit=True), KEY_POINTS, per_ref=2)
    if not picked:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足以写出{work.slot}")
    return KeyFindings(points=_lines(picked)), work.taken


def _synthesis_advice(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[Advice, list[Cand]]:
    return _advice_value(_synthesis_work(eng, ctx, "synthesis.advice"), schema)


# ---------------------------------------------------------------------------------------------
# Digest and commentary slots (report kinds `digest` and `commentary`)
# ---------------------------------------------------------------------------------------------
# Same rules as above: every sentence verbatim from a source with its [ref]; headlines, theses, section
# titles and reader questions are code-made labels from keywords; nothing relevant → Degraded.

QUESTION_CUES = ("问题", "挑战", "关键", "能否", "如何", "不确定", "风险", "但", "然而", "争议", "压力", "取决于")
JUDGEMENT_CUES = ("将", "预计", "有望", "可能", "应", "需要", "意味着", "必须", "关键", "决定")
CONCLUSION_CUES = ("意味着", "表明", "标志", "总体", "关键", "将", "正在", "成为")
CLOSING_CUES = ("将", "预计", "未来", "长期", "有望", "应", "需要", "仍", "成为", "关键")
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
METRICS_MAX, METRICS_PER_SENTENCE = 6, 2
_CLAUSE_BREAK = "，,；;：:。！!？?（(）)"
_NAME_TRIM = "了的为达约近超过至到和及与、是共在将已 "
_CONNECTORS = ("其中", "并且", "并", "而", "但", "同时", "此外", "另外", "其", "该", "这")
# Units jieba keeps as words ("4.8TB/s" → tb): never a title.
UNIT_WORDS = ("tb", "gb", "mb", "pb", "eb", "twh", "gwh", "mwh", "kwh", "gw", "mw", "kw", "tflops", "pflops",
              "eflops", "flops", "tops", "nm", "ghz", "mhz", "usd", "rmb", "pue")
SLOT_NAMES.update({
    "digest.frame": "标题与分类",
    "digest.question": "战略问题",
    "digest.metrics": "关键数据指标",
    "digest.judgements": "战略判断",
    **{k: v[0] for k, v in DIGEST_PARTS.items()},
    "digest.conclusion": "结论",
    "commentary.title": "评论标题",
    "commentary.lead": "导语",
    "commentary.outline": "小节提纲",
    "commentary.section": "小节正文",
    "commentary.closing": "结语与互动问题",
})


def _topic_words(eng: ExtractiveLLM, ctx: TaskContext, slot: str, n: int = 4) -> list[str]:
    """The keywords the relevant sentences share besides the topic's own words, as the sources spell them."""
    terms = Terms.build([ctx.topic])
    gated = eng._gated(ctx.documents, terms)
    if not gated:
        raise Degraded(f"未找到与“{ctx.topic}”相关的资料，无法填写{slot}")
    ranked = keyword_scores([(ref, s.token_list) for s, ref in gated], exclude=[*terms.gate, ctx.topic.lower()])
    texts = [s.text for s, _ in gated]
    return [display(w, texts) for w, _ in ranked if w not in UNIT_WORDS][:n]


def _series(words: Sequence[str]) -> str:
    """["a", "b", "c"] → "a、b与c"."""
    words = [w for w in words if w]
    if len(words) <= 2:
        return "与".join(words)
    return "、".join(words[:-1]) + "与" + words[-1]


def _digest_frame(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Headline: the main source's own title when it names the topic, else "<topic>：<kw1>与<kw2>";
    thesis "<kw1>、<kw2>与<kw3>" from the main source's relevant sentences; category by cue words."""
    from pipeline.kinds.digest.rules import guess_category

    slot = SLOT_NAMES["digest.frame"]
    words = _topic_words(eng, ctx, slot)
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
    gated = eng._gated(ctx.documents, terms)
    own = [(ref, s.token_list) for s, ref in gated if ref == main.ref]
    main_words = [w for w, _ in keyword_scores(own, exclude=[*terms.gate, ctx.topic.lower()])][:3]
    texts = [s.text for s, _ in gated]
    thesis = _series([display(w, texts) for w in main_words] or words[:3])[:40] or head[:40]
    category = guess_category([ctx.topic, *texts])
    return DigestFrame(headline=headline[:60], category=category, thesis=thesis), []


def _digest_question(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """The question: the best sentence naming a problem, a challenge or an uncertainty; then the facts
    (sentences with figures) that frame it."""
    slot = SLOT_NAMES["digest.question"]
    work = _without(eng._work(ctx, slot, [ctx.topic], share=5), _advice_reserved)
    cues = _merge(QUESTION_CUES, schema_cues(schema, "question"))
    ranked = _rescored(work.free(), cues)
    question = work.take([c for c in ranked if cue_hits(c.sent.low, cues) or RISK.search(c.sent.text)], 1)
    facts = work.take([c for c in _rescored(work.free(), _merge(FINDING_CUES, schema_cues(schema, "points")),
                                            digit=True) if _finding(c)], 2, per_ref=1)
    if not question or not facts:
        what = "提出问题或挑战的句子" if not question else "陈述事实的句子"
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有{what}，无法填写{slot}")
    return DigestQuestion(question=_lines(question)[0], points=_lines(facts)), work.taken


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

    slot = SLOT_NAMES["digest.metrics"]
    terms = Terms.build([ctx.topic])
    gated = eng._gated(ctx.documents, terms)
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
    slot = SLOT_NAMES["digest.judgements"]
    work = eng._work(ctx, slot, [ctx.topic], share=4)
    cues = _merge(JUDGEMENT_CUES, schema_cues(schema, "points"))
    fits = [c for c in _rescored(work.free(), cues)
            if _forward(c) or _recommends(c) or CONCLUSION.search(c.sent.text)]
    picked = work.take(fits, 3, per_ref=2)
    if len(picked) < 2:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有两句判断（预计、将、应当、意味着…），无法填写{slot}")
    return DigestJudgements(points=_lines(picked)), work.taken


def _digest_part(kind: str) -> _Handler:
    name, cues, groups, points, share = DIGEST_PARTS[kind]

    def handler(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
        """Sentences carrying the part's cue words, grouped under keyword titles (like 详细分析)."""
        work = eng._work(ctx, name, [ctx.topic], share=share)
        if kind != "digest.actions":  # prescriptive sentences are left for 行动建议
            work = _without(work, _advice_reserved)
        if kind == "digest.risk":  # a risk names one; a policy word alone does not make a sentence a risk
            work.cands = [c for c in work.cands if RISK.search(c.sent.text) or cue_hits(c.sent.low, RISK_CUES)]
        elif kind == "digest.actions":  # what to do, or what comes next
            work.cands = [c for c in work.cands if _recommends(c) or _forward(c)]
        else:
            work.cands = [c for c in work.cands if cue_hits(c.sent.low, cues)]
        if not work.cands:
            raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子都不涉及{name}，无法填写该部分")
        return DigestPart(sections=_keyword_slot(work, cues, groups, points)), work.taken

    return handler


def _digest_conclusion(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """One short, self-standing sentence (no 这/但 opener), the most central left, cue words preferred."""
    slot = SLOT_NAMES["digest.conclusion"]
    work = eng._work(ctx, slot, [ctx.topic], share=1)
    short = [c for c in _rescored(work.free(), CONCLUSION_CUES) if not c.sent.weak_start and len(c.sent.text) <= 90
             and (cue_hits(c.sent.low, CONCLUSION_CUES) or CONCLUSION.search(c.sent.text))]
    picked = work.take(short, 1)
    if not picked:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子中没有适合作一句话结论的短句，无法填写{slot}")
    return DigestConclusion(text=_lines(picked)[0]), work.taken


def _commentary_title(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Headline = the topic; hook = its two leading keywords (code-made, joined with a colon by the kind)."""
    slot = SLOT_NAMES["commentary.title"]
    words = _topic_words(eng, ctx, slot)
    head = ctx.topic.strip()[:30]
    hook = label([w for w in words if w not in head][:2], limit=40)
    if len(head) < 2 or len(hook) < 2:
        raise Degraded(f"与“{ctx.topic}”相关的资料中没有可作标题的关键词，无法填写{slot}")
    return CommentaryTitle(headline=head, hook=hook), []


def _commentary_lead(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Paragraph 1: the news (central sentences with figures); paragraph 2: what it puts in question
    (sentences with 但/挑战/不确定… cue words, else the next best)."""
    slot = SLOT_NAMES["commentary.lead"]
    work = _without(eng._work(ctx, slot, [ctx.topic], share=4), _advice_reserved)
    news = work.take([c for c in _rescored(work.free(), FINDING_CUES, digit=True) if _finding(c)], 2, per_ref=1)
    ranked = _rescored(work.free(), QUESTION_CUES)
    question = work.take([c for c in ranked if cue_hits(c.sent.low, QUESTION_CUES) or RISK.search(c.sent.text)], 2,
                         per_ref=1)
    if not news or not question:
        raise Degraded(f"资料不足：与“{ctx.topic}”相关的未用句子不足，无法写出两段{slot}")
    paragraphs = ["".join(_lines(sorted(p, key=lambda c: c.place))) for p in (news, question)]
    return CommentaryLead(paragraphs=paragraphs), work.taken


def _commentary_outline(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Three to five section titles: keywords that each gather two unused relevant sentences or more,
    titled "<kw>与<kw2>" like 详细分析's groups. Uses no sentence up (the sections do)."""
    slot = SLOT_NAMES["commentary.outline"]
    work = eng._work(ctx, slot, [ctx.topic])
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
    slot = SLOT_NAMES["commentary.section"]
    words = [w.strip().lower() for w in re.split(r"[与、，,\s]+", ctx.subtopic) if len(w.strip()) >= 2]
    if not words:
        raise Degraded(f"小节标题“{ctx.subtopic}”没有可检索的关键词，无法填写{slot}")
    work = eng._work(ctx, slot, [ctx.topic], [ctx.subtopic], share=2)
    # recommendations are left for the closing (结语), which comes after the sections
    work.cands = [c for c in work.cands if any(w in c.sent.tokens or w in c.sent.low for w in words)
                  and not _advice_reserved(c.sent.text)]
    picked = work.take(_rescored(work.free(), words, digit=True), 4, per_ref=2)
    if not picked:
        raise Degraded(f"与小节“{ctx.subtopic}”相关的句子已全部用于前文，无法填写{slot}")
    ordered = sorted(picked, key=lambda c: c.place)
    paragraphs = ["".join(_lines(ordered[i : i + 2])) for i in range(0, len(ordered), 2)]
    return CommentarySection(paragraphs=paragraphs[:3]), work.taken


def _commentary_closing(eng: ExtractiveLLM, ctx: TaskContext, schema: type[BaseModel]) -> tuple[BaseModel, list[Cand]]:
    """Closing: one or two forward-looking sentences left unused; the reader questions are code-made from
    the topic and the first section title (ctx.queries carries the outline)."""
    slot = SLOT_NAMES["commentary.closing"]
    work = eng._work(ctx, slot, [ctx.topic], share=1)
    fits = [c for c in _rescored(work.free(), CLOSING_CUES) if cue_hits(c.sent.low, CLOSING_CUES)]
    picked = work.take(fits, 2, per_ref=1)
    if not picked:
        raise Degraded(f"与“{ctx.topic}”相关的未用句子中没有谈及前景或应对的句子，无法填写{slot}")
    questions = [f"你如何看待“{ctx.topic}”这件事？"]
    if ctx.queries:
        questions.append(f"围绕“{ctx.queries[0]}”，你认为接下来最值得关注的变化是什么？")
    closing = "".join(_lines(sorted(picked, key=lambda c: c.place)))
    return CommentaryClosing(closing=closing, questions=questions), work.taken


_Handler = Callable[[ExtractiveLLM, TaskContext, type[BaseModel]], tuple[BaseModel, list[Cand]]]
_HANDLERS: dict[str, _Handler] = {
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
    "digest.frame": _digest_frame,
    "digest.question": _digest_question,
    "digest.metrics": _digest_metrics,
    "digest.judgements": _digest_judgements,
    **{kind: _digest_part(kind) for kind in DIGEST_PARTS},
    "digest.conclusion": _digest_conclusion,
    "commentary.title": _commentary_title,
    "commentary.lead": _commentary_lead,
    "commentary.outline": _commentary_outline,
    "commentary.section": _commentary_section,
    "commentary.closing": _commentary_closing,
}
