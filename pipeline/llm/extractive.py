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

This module is the engine and what every kind's handlers share (sentence pools, `Work`, the role tests
`is_finding`, `recommends` …, `keyword_slot`). The handlers that fill a kind's slots live with the kind
(`pipeline/kinds/<kind>/extractive.py`) as `ExtractiveSlots`, handed over through
`pipeline.llm.extractive_loaders` when a kind is registered; this module imports no kind.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ValidationError

from pipeline.kinds.coverage import THRESHOLD as COVERED
from pipeline.kinds.coverage import best_share, topic_units
from pipeline.kinds.coverage import share as topic_share
from pipeline.llm import extractive_loaders
from pipeline.llm.base import Completion, T, Task
from pipeline.llm.extractive_rank import (
    Cand,
    Fact,
    Sent,
    Terms,
    cue_hits,
    display,
    document_sentences,
    emit,
    keyword_groups,
    keyword_scores,
    mmr,
    norm_key,
    pieces,
    repeats,
    sentence_facts,
    sentence_keys,
    textrank,
)
from pipeline.models import Doc, Group, JSONObject, TaskContext
from pipeline.text import strip_citations, word_tag

VERSION = "2"
#: Memo key of one set of sources: each document's (ref, text), the ranking terms' key, the topic.
SourcesKey = tuple[tuple[tuple[int, str], ...], tuple[str, ...], str]

# --- cue lists (our own; the schema's `cues` are added to the matching list at call time) --------
FINDING_CUES = ("显示", "表明", "发现", "达到", "增长", "占", "同比", "环比", "超过", "突破", "份额", "规模")
RISK_CUES = ("风险", "限制", "短缺", "下滑", "不确定", "管制", "挑战", "瓶颈", "压力", "担忧", "禁止",
             "制裁", "泡沫", "亏损", "过热", "紧张", "约束", "难以", "短板", "威胁", "收紧")
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
FINDING = re.compile(r"\d|显示|表明|发现|披露|统计|数据|报告|宣布|发布|达到|占")
CONCLUSION = re.compile(r"意味着|表明|说明|标志|总体|关键在于|核心|决定|取决于|归根结底|本质")


#: Fills one slot: (engine, the task's context, the slot model) -> (value, the sentences it used).
Handler = Callable[["ExtractiveLLM", TaskContext, type[BaseModel]], tuple[BaseModel, list[Cand]]]


@dataclass(frozen=True)
class ExtractiveSlots:
    """A kind's handlers by task kind (`digest.frame` …), and each slot's name as the reader knows it
    (`标题与分类`), used in the reasons a slot is left empty."""

    handlers: Mapping[str, Handler]
    names: Mapping[str, str] = field(default_factory=dict)


_registry_lock = threading.Lock()
_handlers: dict[str, Handler] = {}
_names: dict[str, str] = {}


def _load_handlers() -> None:
    """Take the handlers of the kinds registered since the last look-up."""
    with _registry_lock:
        for loader in extractive_loaders.take():
            slots = loader()
            if not isinstance(slots, ExtractiveSlots):
                raise TypeError(f"{loader!r} gave {type(slots).__name__}, not ExtractiveSlots")
            for task_kind, handler in slots.handlers.items():
                if _handlers.get(task_kind, handler) is not handler:
                    raise ValueError(f"two report kinds fill the extractive task '{task_kind}'")
                _handlers[task_kind] = handler
            _names.update(slots.names)


def handler_for(task_kind: str) -> Handler | None:
    _load_handlers()
    return _handlers.get(task_kind)


def slot_name(task_kind: str) -> str:
    """The slot's name for the reader (`关键发现与洞察`), else the task kind itself."""
    _load_handlers()
    return _names.get(task_kind, task_kind)


class Degraded(Exception):
    """A slot that cannot be filled honestly; the message is the plain reason shown to the user."""


def schema_cues(schema: type[BaseModel], field: str) -> tuple[str, ...]:
    """The `cues` a slot model declares on a field (models.py), so both engines read one schema."""
    info = schema.model_fields.get(field)
    extra = info.json_schema_extra if info is not None else None
    if isinstance(extra, dict):
        cues = extra.get("cues", ())
        return tuple(str(c) for c in cues) if isinstance(cues, list | tuple) else ()
    return ()


def merge(*lists: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for lst in lists:
        for c in lst:
            c = c.lower()
            if c and c not in out:
                out.append(c)
    return tuple(out)


class Work:
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

    def require(self, fits: Callable[[Cand], bool], what: str) -> Work:
        """Keep only the sentences that fit the slot's role; none → 资料不足 (never the nearest sentence)."""
        self.cands = [c for c in self.cands if fits(c)]
        if not self.cands:
            raise Degraded(f"资料不足：与“{self.topic}”相关的未用句子中没有{what}，无法填写{self.slot}")
        return self


def without(work: Work, reserved: Callable[[str], bool]) -> Work:
    work.cands = [c for c in work.cands if not reserved(c.sent.text)]
    if not work.cands:
        raise Degraded(f"与“{work.topic}”相关的未用句子都留给了其他栏目，无法填写{work.slot}")
    return work


def advice_reserved(text: str) -> bool:
    """A prescriptive sentence: left for the advice slots."""
    return cue_hits(text, ADVICE_RESERVED) > 0 or RECOMMEND.search(text) is not None


def is_forecast(text: str) -> bool:
    """A forecast or scenario: left for the outlook."""
    return FORECAST.search(text) is not None


def is_finding(c: Cand) -> bool:
    """A statement of fact: a figure (Arabic or Chinese: 四成, 两个数量级), a finding verb (显示, 表明,
    披露…), or a named subject: a Latin name (HBM, AWS) or a name jieba tags as one (组织, 人名, 地名, 专名)."""
    text = c.sent.text
    if FINDING.search(text) or sentence_facts(text) or re.search(r"[A-Za-z]{2,}", text):
        return True
    return any(word_tag(w) in ("nt", "nr", "ns", "nz") for w in c.sent.token_list)


def score(c: Cand, cue: int = 0, digit: bool = False) -> float:
    """Base rank: centrality and relevance, plus the slot's cues; figures count for finding-like slots; a
    sentence opening with 这/但/此外 (it leans on a sentence the reader will not see) ranks a little lower."""
    s = 0.45 * c.centrality + 0.35 * c.relevance + 0.2 * min(cue, 2) / 2.0
    if digit and c.sent.has_digit:
        s += 0.05
    if c.sent.weak_start:
        s -= 0.08
    return round(s, 9)


def rescored(cands: Iterable[Cand], cues: Sequence[str] = (), patterns: Sequence[re.Pattern[str]] = (),
              digit: bool = False) -> list[Cand]:
    out = []
    for c in cands:
        c.score = score(c, cue_hits(c.sent.text.lower(), cues, patterns), digit)
        out.append(c)
    return sorted(out, key=lambda c: c.order)


def lines(picked: Iterable[Cand]) -> list[str]:
    return [emit(c.sent, c.ref) for c in picked]


class ExtractiveLLM:
    """Extractive engine for one run. Keep one instance per run: it remembers the sentences it emitted."""

    provider = "extractive"
    model = "textrank-mmr"
    # It remembers which sentences it used, so a replayed answer would desynchronize that memory:
    # calls are recorded in the run store but never served from its cache.
    cacheable = False
    # It fills slots from the structured context, never from a prompt, and its answers are its sources'
    # own sentences: prompts are not rendered for it and its answers cannot fail a model's validation.
    generative = False
    # Its memory of used sentences makes the report depend on call order: steps run in a fixed order.
    sequential = True
    # It ranks whole source sentences, never passages cut from the sources.
    passages = False

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
        self.reserved: dict[str, int] = {}
        self._reserved_facts: list[Fact] = []
        self._sentences: dict[str, tuple[Sent, ...]] = {}
        self._centrality: dict[SourcesKey, dict[tuple[int, int], float]] = {}
        self._gate_cache: dict[SourcesKey, list[tuple[Sent, int]]] = {}

    # --- protocol -------------------------------------------------------------------------------

    def cache_identity(self) -> JSONObject:
        return {"provider": self.provider, "model": self.model, "version": VERSION, "ref_year": self.ref_year}

    def complete(self, task: Task[T]) -> Completion[T]:
        started = time.perf_counter()
        handler = handler_for(task.kind)
        slot = slot_name(task.kind)
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
        if s.norm in self.reserved:
            return not reserved_ok
        return repeats(facts, self._facts) or repeats(facts, self._reserved_facts)

    # --- pools ----------------------------------------------------------------------------------

    def _doc_sentences(self, doc: Doc) -> tuple[Sent, ...]:
        sents = self._sentences.get(doc.text)
        if sents is None:
            sents = document_sentences(doc.text)
            self._sentences[doc.text] = sents
        return sents

    def gated(self, docs: Sequence[Doc], terms: Terms, topic: str = "") -> list[tuple[Sent, int]]:
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

    def work(
        self, ctx: TaskContext, slot: str, broad: Sequence[str], focus: Sequence[str] = (), share: int = 4,
        reserved_ok: bool = False,
    ) -> Work:
        """The task's pool, or Degraded with the reason when nothing relevant (or nothing unused) is left.
        Relevance blends the task's words (sub-topic words count double) with how much of the topic the
        sentence names (`pipeline.kinds.coverage.share`)."""
        terms = Terms.build(broad, focus)
        gated = self.gated(ctx.documents, terms, ctx.topic)
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
            c.score = score(c)
        return Work(cands, ctx.topic, slot, terms.gate, share)

    def reserve(self, picked: Sequence[Cand]) -> None:
        """Keep `picked` for a later slot (the research kind's executive summary): the slots before it
        leave them, and their facts, alone; `reserved` maps each to its place."""
        self.reserved = {c.sent.norm: i for i, c in enumerate(picked)}
        self._reserved_facts = [f for c in picked for f in sentence_facts(c.sent.text)]

    def years(self, offsets: range) -> tuple[str, ...]:
        return tuple(f"{self.ref_year + k}年" for k in offsets)


# ---------------------------------------------------------------------------------------------
# What the kinds' handlers share (pipeline/kinds/<kind>/extractive.py)
# ---------------------------------------------------------------------------------------------


def _groups_of(work: Work, picked: list[tuple[str, list[Cand]]]) -> list[Group]:
    return [Group(title=t, points=lines(ms)) for t, ms in picked if ms]


def keyword_slot(work: Work, cues: Sequence[str], groups: int, points: int) -> list[Group]:
    # As many groups as the room allows with two points each, then as many points as fit.
    groups = max(1, min(groups, work.room() // 2))
    points = max(1, min(points, work.room() // groups))
    cands = rescored(work.free(), cues, digit=True)
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


def is_forward(c: Cand) -> bool:
    return FORWARD.search(c.sent.text) is not None


def recommends(c: Cand) -> bool:
    return RECOMMEND.search(c.sent.text) is not None


QUESTION_CUES = ("问题", "挑战", "关键", "能否", "如何", "不确定", "风险", "但", "然而", "争议", "压力", "取决于")
METRICS_MAX, METRICS_PER_SENTENCE = 6, 2
# Units jieba keeps as words ("4.8TB/s" → tb): never a title.
UNIT_WORDS = ("tb", "gb", "mb", "pb", "eb", "twh", "gwh", "mwh", "kwh", "gw", "mw", "kw", "tflops", "pflops",
              "eflops", "flops", "tops", "nm", "ghz", "mhz", "usd", "rmb", "pue")


def topic_words(eng: ExtractiveLLM, ctx: TaskContext, slot: str, n: int = 4) -> list[str]:
    """The keywords the relevant sentences share besides the topic's own words, as the sources spell them."""
    terms = Terms.build([ctx.topic])
    gated = eng.gated(ctx.documents, terms)
    if not gated:
        raise Degraded(f"未找到与“{ctx.topic}”相关的资料，无法填写{slot}")
    ranked = keyword_scores([(ref, s.token_list) for s, ref in gated], exclude=[*terms.gate, ctx.topic.lower()])
    texts = [s.text for s, _ in gated]
    return [display(w, texts) for w, _ in ranked if w not in UNIT_WORDS][:n]


def series(words: Sequence[str]) -> str:
    """["a", "b", "c"] → "a、b与c"."""
    words = [w for w in words if w]
    if len(words) <= 2:
        return "与".join(words)
    return "、".join(words[:-1]) + "与" + words[-1]


