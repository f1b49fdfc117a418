"""Check every number of a report against the facts store: verified, contradicted or unsupported.

The decision rule, and why (README, "How numbers are checked"):

1. **Align** the claim with the stored statements about the same thing. A stored fact is *aligned*
   with a claim when: its role agrees (a level with a level, a change with a change of the same
   basis: 同比 is not 环比); no year or quarter on both sides differs; the subjects do not differ
   (two named companies, none shared); the metric matches (the words just before one number stand
   in the other number's clause: 营收 … 营收, RPO … 剩余履约义务); and the sentences share a name or
   at least three terms. A sentence quoted from a source aligns with that sentence whatever its words.
2. **Compare within the claim's own precision.** "21%" covers 20.5–21.5, "约4500亿" covers
   4450–4550亿, "超过4000亿" covers 4000 up to the next significant step: a stored value outside
   that interval is a different figure, however coarsely the source rounds ("约20%" never licenses
   "21%"). A claim more precise than its source ("20.3%" against "约20%") is not verified.
3. **Decide with a margin.** *verified*: an aligned fact agrees, and no fact aligned more strongly
   (by two metric words or more) says otherwise. *contradicted*: the best-aligned facts share the
   claim's metric word and subject and state one same other value (or the same figure in another
   unit of the same kind: 亿元 for 亿美元, % for 个百分点), and none agrees or is merely vague.
   *unsupported*: everything else; the number may be right, nobody here can say.
4. **Derived figures.** A growth rate, a share or a difference the sources do not state is
   recomputed from two aligned levels they do state (两期收入 → 增速; 部分与整体 → 占比) and
   verified or contradicted with `"basis": "derived"` and the formula in its evidence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NotRequired, TypedDict

from pipeline.facts.extract import MEASURE_WORDS, Claim, extract_claims, unit_class, unit_factor
from pipeline.facts.referents import (
    CLAUSE_STOP,
    ENTITY_NAMES,
    METRIC_TERMS,
    PRONOUN,
    RANK_WORDS,
    RATIO_UNITS,
    Referent,
    TextReferents,
    is_named,
    left_out,
    rate_context,
    roles_compatible,
    same_direction,
    sentence_terms,
    times_conflict,
    tokens,
)
from pipeline.facts.store import LABEL, MARKUP, Fact, FactStore, sentence_key

VERIFIED = "verified"
CONTRADICTED = "contradicted"
UNSUPPORTED = "unsupported"
STATUSES = (VERIFIED, CONTRADICTED, UNSUPPORTED)

MAX_EVIDENCE = 2
QUOTE_CHARS = 120
#: How far above an "超/逾…" figure (or below a "近/不到…" one) the true value may lie, at most.
BOUND_SPAN = 0.2


@dataclass
class Evidence:
    """A stored fact shown as support or contradiction: where it is from, what it says."""

    source: str
    quote: str
    value: float
    basis: str = "stated"
    formula: str = ""
    sentence: str = field(default="", repr=False, compare=False)  # the full source sentence (not in JSON)
    fact_id: int = field(default=0, repr=False, compare=False)  # the stored fact (not in JSON)


@dataclass
class CheckedClaim:
    text: str
    start: int
    end: int
    value: float
    value_hi: float | None
    unit: str
    approx: bool
    status: str
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class CheckReport:
    claims: list[CheckedClaim]
    summary: dict[str, int]

    def to_json(self) -> CheckJSON:
        """The stable JSON contract of `yanbao check --json` (and of the 数据核验 template)."""
        return {
            "claims": [
                {
                    "text": c.text,
                    "start": c.start,
                    "end": c.end,
                    "value": c.value,
                    "value_hi": c.value_hi,
                    "unit": c.unit,
                    "approx": c.approx,
                    "status": c.status,
                    "evidence": [_evidence_json(e) for e in c.evidence],
                }
                for c in self.claims
            ],
            "summary": {k: int(self.summary.get(k, 0)) for k in STATUSES},
        }


class EvidenceJSON(TypedDict):
    """One evidence item of a claim in check.json; `basis` and `formula` only for a derived figure."""

    source: str
    quote: str
    value: float
    basis: NotRequired[str]
    formula: NotRequired[str]


class ClaimJSON(TypedDict):
    """One claim of check.json: where it is in the report, what it says, how it was checked."""

    text: str
    start: int
    end: int
    value: float
    value_hi: float | None
    unit: str
    approx: bool
    status: str
    evidence: list[EvidenceJSON]


class CheckJSON(TypedDict):
    """`yanbao check --json`, `<stem>.check.json` and what the 数据核验 appendix is made from."""

    claims: list[ClaimJSON]
    summary: dict[str, int]


def _evidence_json(e: Evidence) -> EvidenceJSON:
    out: EvidenceJSON = {"source": e.source, "quote": e.quote, "value": e.value}
    if e.basis != "stated":
        out["basis"] = e.basis
        out["formula"] = e.formula
    return out


# -- what in a report is not a claim ------------------------------------------------------------------

_FRONT = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*(?:\n|\Z)", re.S)
_URL_LINE = re.compile(r"^.*(?:https?|file)://.*$", re.M)
_NOTICE_LINE = re.compile(r"^（本节未能生成：.*$", re.M)
#: Headings of code-written sections: the data-check appendix, source and reference lists.
_META_HEADING = re.compile(
    r"^(?P<hashes>#{1,6})[ \t]*(?:数据核验|参考文献|参考资料|参考来源|资料来源|引用来源|来源列表|信息来源|"
    r"Sources?|References?)\b[^\n]*$|^[ \t]*\*{0,2}[ \t]*#{0,3}[ \t]*Sources?:?\*{0,2}[ \t]*$",
    re.M | re.I,
)
_HEADING = re.compile(r"^(#{1,6})[ \t]", re.M)


def unchecked_spans(text: str) -> list[tuple[int, int]]:
    """Spans of a report written by code from metadata, not claims: front matter, the header block of
    a yanbao report (above its first `## ` section), the 数据核验 appendix and source or reference
    lists (each up to the next heading of its level or higher), lines that carry a URL, and
    failure notices. `yanbao check` and the pipeline leave numbers there out."""
    spans: list[tuple[int, int]] = []
    fm = _FRONT.match(text)
    body_start = fm.end() if fm else 0
    if fm:
        spans.append((0, fm.end()))
    if text.startswith("# ", body_start) or text.startswith("\n# ", body_start):
        first = text.find("\n## ", body_start)
        if first > 0:
            spans.append((body_start, first))
    for m in _META_HEADING.finditer(text):
        level = len(m.group("hashes") or "") or 7
        end = len(text)
        for h in _HEADING.finditer(text, m.end()):
            if len(h.group(1)) <= level:
                end = h.start()
                break
        spans.append((m.start(), end))
    spans.extend(m.span() for m in _URL_LINE.finditer(text))
    spans.extend(m.span() for m in _NOTICE_LINE.finditer(text))
    return spans


# -- checking -----------------------------------------------------------------------------------------


def check_text(text: str, store: FactStore, *, skip_metadata: bool = True) -> CheckReport:
    """Extract the claims of `text` and judge each against `store`. Offsets index into `text`.

    `skip_metadata`: leave out what `unchecked_spans` finds (front matter, appendix, source lists).
    """
    with store.memoized():
        return _check(text, store, skip_metadata)


def _check(text: str, store: FactStore, skip_metadata: bool) -> CheckReport:
    refs = TextReferents(text, carry_names=True)
    skip = unchecked_spans(text) if skip_metadata else []
    claims = [c for c in extract_claims(text) if not any(a <= c.start < b for a, b in skip)]
    referents = [refs.referent(c.start, c.end, c.unit) for c in claims]
    store.prefetch_terms(t for r in referents for t in _lookup_terms(r))
    # A sentence that quotes a source sentence is settled at once (most of an extractive report).
    quoted = [_quoted(c, r, store) for c, r in zip(claims, referents, strict=True)]
    pools = [
        [] if q is not None else _gather(c, r, store) for c, r, q in zip(claims, referents, quoted, strict=True)
    ]
    # Subjects settled by agreement: where two numbers of one report sentence each agree with a
    # statement of the same metric in one source ("该公司营收571.3亿元，净利润17.9亿元"), the
    # sentence is about that source's subject, named or not.
    sources: dict[tuple[int, int], list[set[str]]] = {}
    spans = [refs.sentence_span(c.start, c.end) for c in claims]
    per_sentence: dict[tuple[int, int], int] = {}
    for span in spans:
        per_sentence[span] = per_sentence.get(span, 0) + 1
    for c, r, pool, span in zip(claims, referents, pools, spans, strict=True):
        found = _metric_matches(c, r, pool) if per_sentence[span] > 1 else set()
        sources.setdefault(span, []).append(found)
    shared: dict[tuple[int, int], frozenset[str]] = {}
    for span, found_sets in sources.items():
        counts: dict[str, int] = {}
        for urls in found_sets:
            for u in urls:
                counts[u] = counts.get(u, 0) + 1
        shared[span] = frozenset(u for u, n in counts.items() if n >= 2)
    verdicts = [
        q if q is not None else judge(c, r, store, sources=shared[refs.sentence_span(c.start, c.end)], pool=pool)
        for c, r, pool, q in zip(claims, referents, pools, quoted, strict=True)
    ]
    # A second look with anchors: where one number of a report sentence verified against a source
    # sentence, that sentence is what the report sentence restates, so its subject is settled for
    # the other numbers too ("服务收入4,587亿元，同比增长2.3%" against "…4,587亿元，同比增长2.8%").
    # Anchors come from the *other* numbers of the sentence (a claim never anchors itself).
    anchors: dict[tuple[int, int], list[tuple[int, str]]] = {}
    anchor_ids: dict[tuple[int, int], list[tuple[int, int]]] = {}
    # Facts that a number of the sentence verified against are that number's: they do not
    # contradict its neighbours ("A占比升至68%，B降至22%" against "…A…68%，B…22%").
    taken: dict[tuple[int, int], dict[tuple[str, float], int]] = {}
    for i, (c, (status, evidence)) in enumerate(zip(claims, verdicts, strict=True)):
        span = refs.sentence_span(c.start, c.end)
        if status in (VERIFIED, CONTRADICTED) and evidence and evidence[0].basis == "stated":
            anchors.setdefault(span, []).extend((i, e.sentence) for e in evidence)
            anchor_ids.setdefault(span, []).extend((i, e.fact_id) for e in evidence)
        if status == VERIFIED and evidence and evidence[0].basis == "stated":
            taken.setdefault(span, {})[(evidence[0].sentence, evidence[0].value)] = i
    checked = []
    for i, (c, r, (status, evidence)) in enumerate(zip(claims, referents, verdicts, strict=True)):
        span = refs.sentence_span(c.start, c.end)
        own = frozenset(sent for j, sent in anchors.get(span, []) if j != i)
        if quoted[i] is None and own and not (
            status == VERIFIED and evidence and evidence[0].sentence in own and len(own) == 1
        ):
            others = frozenset(k for k, j in taken.get(span, {}).items() if j != i)
            near_ids = frozenset(fid for j, fid in anchor_ids.get(span, []) if j != i)
            status, evidence = judge(
                c, r, store, anchors=own, sources=shared[span], taken=others, anchor_facts=near_ids, pool=pools[i]
            )
        checked.append(
            CheckedClaim(c.text, c.start, c.end, c.value, c.value_hi, c.unit, c.approx, status, evidence)
        )
    summary = {k: sum(1 for c in checked if c.status == k) for k in STATUSES}
    return CheckReport(claims=checked, summary=summary)


@dataclass(frozen=True)
class _Aligned:
    fact: Fact
    level: int  # 2: a metric word of one stands in the other's clause; 1: weaker (see _align)
    metric: float  # how alike the two clauses are: Jaccard of their terms (names, 同比/环比 aside)
    terms: int  # sentence terms shared
    names: int  # names shared (an anchor counts as one)
    similar: float  # how alike the two sentences are (bigram Jaccard): a copied sentence is ~1
    verdict: str  # agree | disagree | unclear | unit (same kind, other unit)
    anchored: bool = False  # the fact's sentence is one another number of the claim's sentence verified on
    heads: bool = False  # a metric word of one stands in the other's clause
    same_direction: bool = True  # both rise, both fall, or levels

    subject: float = 0.0  # share of the claim sentence's terms that the fact's sentence (and lead) hold
    extra: float = 0.0  # share of the fact's clause terms the claim's sentence lacks (服务器 in 服务器收入)
    same_head: bool = False  # the same metric word right before both numbers
    support: int = 0  # terms of the fact's clause that the claim's sentence names (住宿预订 … 收入53.2亿元)

    @property
    def score(self) -> float:
        """How well the fact lines up: clause likeness, more for a metric word before both numbers,
        for the claim's subject words, and for the source sentence the claim's sentence restates."""
        return (
            self.metric + LEVEL_BONUS * (self.level == 2) + SUBJECT_WEIGHT * self.subject + ANCHOR_BONUS * self.anchored
            + HEAD_BONUS * self.same_head - EXTRA_WEIGHT * self.extra + SUPPORT_WEIGHT * min(self.support, 6)
        )


def _quoted(claim: Claim, ref: Referent, store: FactStore) -> tuple[str, list[Evidence]] | None:
    """Verified when the claim's sentence is a stored source sentence and states the same figure there."""
    uclass = unit_class(claim.unit)
    for f in store.facts_of_sentence(sentence_key(ref.sentence)):
        if f.uclass == uclass and roles_compatible(ref.role, f.role, uclass) and compare(claim, f, ref.role) == "agree":
            return VERIFIED, _evidence([f])
    return None


def _lookup_terms(ref: Referent) -> frozenset[str]:
    lookup = ref.near | ref.names | ref.head
    if len(lookup) <= 1:
        lookup = lookup | ref.terms  # "…，一年提高了23个百分点", "基准：未来三年…": the sentence says more
    return lookup


def _gather(claim: Claim, ref: Referent, store: FactStore) -> list[Fact]:
    """The stored statements a claim is compared with: those with a value near the claim's that share
    the most words with it, and those of its kind of unit that share the most words at any value."""
    uclass = unit_class(claim.unit)
    lookup = _lookup_terms(ref)
    lo, hi = _value_window(claim)
    classes = [uclass, ""] if _count_class(uclass) else [uclass]
    pool = {f.id: f for f in store.candidates(lookup, classes, lo, hi, limit=VALUE_CANDIDATES, always=ref.head)}
    if uclass and _specific(claim):
        for f in store.by_value([uclass], lo, hi, limit=VALUE_CANDIDATES):
            pool.setdefault(f.id, f)
    other = _GROWTH_FORMS.get(uclass)
    if other is not None and (uclass == "x" or ref.role.startswith("change:up")):
        # "增长超过一倍" and "同比增长128%" state one growth: a multiple m is a rise of (m - 1) x 100 %
        a, b = (_to_growth(lo), _to_growth(hi)) if uclass == "x" else (_to_multiple(lo), _to_multiple(hi))
        for f in store.candidates(lookup, [other], min(a, b), max(a, b), limit=VALUE_CANDIDATES):
            pool.setdefault(f.id, f)
    if uclass:
        for f in store.candidates(lookup, kind_classes(uclass), limit=CANDIDATES):
            pool.setdefault(f.id, f)
    elif claim.has_scale:
        for f in store.candidates(lookup, None, limit=CANDIDATES):
            pool.setdefault(f.id, f)
    return list(pool.values())


def _metric_matches(claim: Claim, ref: Referent, pool: list[Fact]) -> set[str]:
    """Sources with a statement that agrees with the claim and names its metric, whoever its subject."""
    uclass = unit_class(claim.unit)
    if not uclass or not ref.head:
        return set()
    out = set()
    for f in pool:
        if f.uclass != uclass:
            continue
        if (ref.head & f.near or f.head & ref.near) and roles_compatible(ref.role, f.role, uclass) \
                and not times_conflict(ref.times, f.times) and compare(claim, f, ref.role) == "agree":
            out.add(f.source_url)
    return out


def judge(
    claim: Claim, ref: Referent, store: FactStore, *, anchors: frozenset[str] = frozenset(),
    sources: frozenset[str] = frozenset(), taken: frozenset[tuple[str, float]] = frozenset(),
    anchor_facts: frozenset[int] = frozenset(), pool: list[Fact] | None = None,
) -> tuple[str, list[Evidence]]:
    """Status of one claim and the evidence that backs or contradicts it. `anchors`: source
    sentences that other numbers of the claim's sentence verified against (same subject);
    `sources`: sources that two numbers of the claim's sentence agree with (same subject)."""
    uclass = unit_class(claim.unit)
    if pool is None:
        pool = _gather(claim, ref, store)
    # A quoted source sentence: the strongest evidence there is, whatever words the lexicon knows.
    for f in pool:
        if f.uclass == uclass and roles_compatible(ref.role, f.role, uclass) and _verbatim(ref.sentence, f.sentence) \
                and compare(claim, f, ref.role) == "agree":
            return VERIFIED, _evidence([f])
    if not uclass and not claim.has_scale:
        return UNSUPPORTED, []  # a bare number: never enough to say what it is
    if uclass:
        facts = {f.id: f for f in pool}
        classes = kind_classes(uclass)
        for fid in sorted(anchor_facts):  # the sentences this one restates, whatever words they use
            for f in store.sentence_facts(fid):
                if f.uclass in classes:
                    facts.setdefault(f.id, f)
    else:
        # "RPO为4550亿" with the currency left out: the same value in any unit may verify it
        facts = {f.id: f for f in pool if compare(claim, f, ref.role) == "agree"}
    aligned = [a for f in facts.values() if (a := _align(claim, ref, f, uclass, anchors, sources)) is not None]
    # a daily average and a total agree only where the side that does not say 日均 hints at it
    # ("日耗煤量" for "日均耗煤量"): the same value for both is a coincidence otherwise
    agree = [a for a in aligned if a.verdict == "agree" and _per_compatible(ref, a.fact)]
    against = [a for a in aligned if a.verdict in ("disagree", "unit")]
    unclear = [a for a in aligned if a.verdict == "unclear"]
    named_parts = [a.fact for a in against + unclear if _part_words(a.fact)]
    if named_parts:
        # "新签海外订单48.9GW" against "新签订单合计48.9GW，其中海外订单9.3GW": the claim names the part, so
        # the whole's equal value is no agreement
        agree = [a for a in agree if not any(_names_part_of(ref, p, a.fact) for p in named_parts)]
    # a decline is not a restatement of a growth, and competes only when the sentence is copied
    # ... nor is the same figure in another currency or unit ("以美元计…5.94万亿美元"): a unit error
    # is only one where nothing in the claim's own unit lines up
    rivals_of_agree = [
        a for a in against + unclear
        if (a.same_direction or a.similar >= SIMILAR) and a.verdict != "unit" and (a.fact.sentence, a.fact.value) not in taken
        # "联想出货1,850万台" does not outrank the total for a claim that names no company
        and not (a.fact.names and not ref.names and not a.anchored)
        # nor a figure reached a forecast, nor a part the claim does not name (see `_apart`)
        and not _apart(ref, a.fact)
        # nor the first level of "从750亿美元上调至850亿美元" a claim of the new one ("上调至850亿美元")
        and not ("from" in a.fact.times and not {"prev", "from"} & ref.times)
        # nor the half year's total a daily average ("每天的通行费收入在2122万元左右"), nor the reverse
        and _per(a.fact.times) == _per(ref.times)
        # nor a figure in brackets, an aside about what precedes it ("为B轮估值（15亿美元）的3.5倍")
        and not _bracketed(a.fact)
    ]
    parts = [a.fact for a in agree if _part_words(a.fact)]
    if parts:
        # "海外在手订单为9.3GW" agrees with "…合计48.9GW，其中海外订单9.3GW": the whole stated just before the
        # part (in its sentence, or the sentence before "其中…") does not outrank the part the claim
        # names; other statements still may
        rivals_of_agree = [
            a for a in rivals_of_agree
            if _part_words(a.fact) or not any(_part_words(p) & ref.near and _whole_of(a.fact, p) for p in parts)
        ]
    if ref.names and any(a.names for a in agree):
        # "苹果三季度出货量为5810万部" agrees with "苹果以5,810万部位居第一": a statement that names nobody
        # (the market total) does not outrank the one about the claim's own subject
        named = max(a.subject for a in agree if a.names)
        rivals_of_agree = [a for a in rivals_of_agree if a.names or a.subject >= named]
    if any(a.verdict != "unit" for a in aligned):
        against = [a for a in against if a.verdict != "unit"]
    strong_against = [a for a in against if _strong(a, ref) and (a.fact.sentence, a.fact.value) not in taken]
    if agree and _subjectless(ref) and not any(a.names for a in agree):
        # a figure that names no subject verifies only where the store holds it once
        if len({(a.fact.source_url, a.fact.sentence) for a in agree}) > 1:
            agree = []
    best = max((a.score for a in agree), default=None)
    # An agreeing fact verifies unless another statement lines up clearly better with the claim:
    # then the claim is about that one ("刻蚀设备收入同比增长44.7%" where 44.7% is the company's
    # growth and 刻蚀设备 grew "逾五成"), and the agreement is a coincidence of values.
    if best is not None and not any(_outranks(a.score, best) for a in rivals_of_agree):
        return VERIFIED, _evidence([a.fact for a in sorted(agree, key=_rank)])
    if strong_against:
        top = max(a.score for a in strong_against)
        tier = [a for a in strong_against if not _outranks(top, a.score, TIE)]
        rivals = [a for a in agree + unclear if not _outranks(top, a.score, TIE)]
        if not rivals and all(_same_value(tier[0].fact, a.fact) for a in tier[1:]):
            return CONTRADICTED, _evidence([a.fact for a in sorted(tier, key=_rank)])
    derived = derive(claim, ref, store)
    if derived is not None:
        return derived
    return UNSUPPORTED, []


#: How many stored statements a claim is compared with: those sharing the most words with it.
VALUE_CANDIDATES = 12  # ... with a value near the claim's
CANDIDATES = 24  # ... at any value, in the claim's kind of unit
MARGIN = 0.15  # a fact aligned this much better than the agreeing one outranks it
TIE = 0.05  # facts this close to the best-aligned one count as aligned as well as it
LEVEL_BONUS = 0.2
ANCHOR_BONUS = 0.3
SUBJECT_WEIGHT = 0.3
EXTRA_WEIGHT = 0.3
HEAD_BONUS = 0.2
SUPPORT_WEIGHT = 0.05


def _outranks(a: float, b: float, margin: float = MARGIN) -> bool:
    return a >= b + margin


def _rank(a: _Aligned) -> tuple[int, float, int, int, int]:
    return (-a.level, -a.metric, -a.names, -a.terms, a.fact.id)


def _strong(a: _Aligned, ref: Referent) -> bool:
    """Enough to say the source states this very figure differently: the same metric (nearly the same
    sentence; the same metric word before both numbers in clauses that are alike; or a source
    sentence the claim's sentence restates) and the same subject (a shared name or anchor, or shared
    sentence words where the claim names nothing)."""
    same_metric = (
        a.similar >= SIMILAR
        or (a.level == 2 and bool(ref.head & a.fact.head) and (a.metric >= STRONG_CLAUSE or a.subject >= STRONG_SUBJECT))
        or (a.anchored and a.heads)
    )
    if not same_metric:
        return False
    if (ref.role == "level") != (a.fact.role == "level"):
        return False  # "上调了100亿美元" (a change) is not the level "上调至850亿美元": never its contradiction
    if _per(ref.times) != _per(a.fact.times):
        return False  # a daily average and a total: writers drop or add 日均, so they may agree, never differ
    if ("prev" in ref.times) != ("prev" in a.fact.times):
        return False  # last year's level ("上年同期营收约20.67亿元") is not contradicted by this year's
    if _apart(ref, a.fact):
        return False
    if ("from" in a.fact.times) != ("from" in ref.times) and not {"prev"} & (ref.times | a.fact.times):
        return False  # "从750亿美元上调至850亿美元": the first level does not contradict the new one
    known = (ref.near & METRIC_TERMS) - _NOT_METRIC
    if known - a.fact.near and a.similar < SIMILAR:
        return False  # the claim names a metric (营收, 研发投入) the fact's clause does not
    if ref.names and not a.names:
        return False  # the claim names a subject the fact's sentence does not
    if _SUM_WORDS.search(ref.sentence) and not _SUM_WORDS.search(a.fact.sentence):
        return False  # "两者合计2,470万台" is not contradicted by one of its parts
    specific = ref.near - ref.head - _NOT_METRIC - ref.names
    if specific and not a.anchored and a.similar < SIMILAR and len(specific & a.fact.terms) < len(specific) / 2:
        return False  # "对东盟进出口6.41万亿元" against "民营企业进出口22.36万亿元": another subject
    if a.names:
        return True
    # A claim that names nobody ("公司全年营收412.8亿元") cannot contradict anyone's figure, nor can
    # one whose subject words are not a named company's.
    return not _subjectless(ref) and _same_subject(ref, a.fact) and not (a.fact.terms & ENTITY_NAMES)


def _bracketed(f: Fact) -> bool:
    """The figure stands inside brackets in its sentence ("B轮估值（15亿美元）")."""
    at = f.sentence.find(f.text)
    if at < 0:
        return False
    before = f.sentence[:at]
    return before.count("（") + before.count("(") > before.count("）") + before.count(")")


def _per_compatible(ref: Referent, f: Fact) -> bool:
    """Both amounts per the same thing, or the one that says nothing of it has a per word in its sentence."""
    mine, theirs = _per(ref.times), _per(f.times)
    if mine == theirs or mine & theirs:  # "每位会员年均消费" and "单个会员年均消费"
        return True
    plain = sentence_terms(ref.sentence) if not mine else f.sentence_terms if not theirs else frozenset()
    return any("每" in term or "均" in term or term.startswith("日") for term in plain)


def _per(times: frozenset[str]) -> frozenset[str]:
    """Per what the amount is ("per:d" for 日均, 每天 …; see referents._PER)."""
    return frozenset(t for t in times if t.startswith("per:"))


def _subject_words(ref: Referent) -> frozenset[str]:
    """The words of the claim's sentence that are not metric words: who or what it is about."""
    return (ref.subject or ref.terms) - ref.head - _NOT_METRIC - METRIC_TERMS - _NOT_SUBJECT


def _same_subject(ref: Referent, f: Fact) -> bool:
    """At least half the claim's subject words stand in the fact's sentence, the one before or the
    lead of its source (a subject an unknown name: "星衡智算"). An unnamed one ("某新兴公司") is only
    the subject of a statement that says "某新…" too: it is nobody the store can name."""
    anon = _ANONYMOUS.search(ref.sentence)
    if anon is not None and anon.group(0) not in f.terms:
        return False
    words = _subject_words(ref)
    return bool(words) and len(words & f.terms) * 2 >= len(words)


#: An unnamed subject: 某公司, 某新兴公司, 某头部厂商.
_ANONYMOUS = re.compile("某[\u4e00-\u9fff]")


def _qualifiers(ref: Referent) -> frozenset[str]:
    """The subject words of a claim that a pronoun opens ("公司国际航线收入…"), less the pronoun's own
    ("这家车企的…": 车企 is the pronoun, not a part of the company)."""
    m = PRONOUN.match(ref.sentence)
    said = ref.sentence[: m.end() + (2 if m.group(0).endswith("这家") else 0)] if m else ""
    return frozenset(t for t in _subject_words(ref) if t not in said)


def _subjectless(ref: Referent) -> bool:
    """The claim's sentence names no subject: only metric words ("营收…，归母净利润…"), or a pronoun
    (该公司, 其)."""
    if ref.names or _ANONYMOUS.search(ref.sentence):
        return False
    own = (ref.subject or ref.terms) - ref.head - _NOT_METRIC - METRIC_TERMS - _NOT_SUBJECT
    return not own or PRONOUN.match(ref.sentence) is not None


def _specific(c: Claim) -> bool:
    """Three significant digits or more (1640亿, 28.6%): such a figure rarely coincides."""
    if c.value == 0 or c.sig_step <= 0:
        return False
    return math.floor(math.log10(abs(c.value) / c.sig_step) + 1e-9) + 1 >= 3


SIMILAR = 0.6  # bigram Jaccard of two sentences above which one is a copy of the other, edited
STRONG_CLAUSE = 0.3  # clause likeness needed (with a shared metric word) to call a figure contradicted
STRONG_SUBJECT = 0.75  # or this share of the claim sentence's words in the fact's sentence and lead


def _align(
    claim: Claim, ref: Referent, f: Fact, uclass: str, anchors: frozenset[str] = frozenset(),
    sources: frozenset[str] = frozenset(),
) -> _Aligned | None:
    """How a stored fact lines up with a claim, or None when it is about something else."""
    if times_conflict(ref.times, f.times):
        return None
    shares = _per_shares(ref.sentence, claim.text), _per_shares(f.sentence, f.text)
    if shares[0] and shares[1] and shares[0] != shares[1]:
        f = _scaled_fact(f, shares[0] / shares[1])  # "每10股派12.2元" is 1.22元 a share
    if (uclass == "x" and f.uclass == "%" and f.role.startswith("change:up")) or (
        uclass == "%" and f.uclass == "x" and ref.role.startswith("change:up")
    ):
        # "增长128%" read as "2.28倍", "翻了一番" as "增长100%": the same growth may verify; read in
        # another form, a statement never contradicts (is "增长2倍" 2x or 3x? writers differ)
        f = _as_form(f, uclass, ref.role)
        if compare(claim, f, ref.role) != "agree":
            return None
    elif uclass == "x" and f.uclass == "x" and {ref.role.split(":")[0], f.role.split(":")[0]} == {"level", "change"} \
            and (ref.role.startswith("change:up") or f.role.startswith("change:up")) \
            and _of_previous(ref.sentence if ref.role == "level" else f.sentence, claim.text if ref.role == "level" else f.text):
        # "增长了1.4倍" and "是上年的2.4倍": a rise of m times is m + 1 times the earlier level. Read
        # so, the same figure verifies; otherwise the figure is read as written (writers differ on
        # what "增长2倍" means)
        shifted = _multiple_form(f, ref.role)
        if compare(claim, shifted, ref.role) == "agree":
            f = shifted
    if not roles_compatible(ref.role, f.role, uclass):
        # "交通票务收入增速为10.6%，住宿预订为13.1%": in a sentence about growth rates a bare % may be one
        if ref.role == "level" and f.role.startswith("change") and rate_context(ref.sentence):
            ref = replace(ref, role=f.role)
        elif f.role == "level" and ref.role.startswith("change") and rate_context(f.sentence):
            f = replace(f, role=ref.role)  # "运价涨幅可能低于市场预期的10%-15%": the source's % is a rate too
        else:
            return None
    if ref.names and f.names and not (ref.names & f.names):
        return None  # two subjects, none shared
    terms = len(ref.terms & f.terms)
    anchored = f.sentence in anchors
    ck, fk = (ref.near & METRIC_TERMS) - _NOT_METRIC, (f.near & METRIC_TERMS) - _NOT_METRIC
    similar = _similarity(ref.sentence, f)
    if ck and fk and not ck & fk and not anchored:
        return None  # two known metrics, none shared: 净利润 is not 营收, whatever else the clauses share
    names = len(ref.names & f.names) + anchored
    # the subject by agreement: enough to align an agreeing statement, not to rank others or contradict
    agreed = f.source_url in sources
    heads = bool(ref.head & f.near) or bool(f.head & ref.near)
    # "全年产钢3082万吨" against "钢产量3,082万吨": the metric's characters in another order. Enough
    # to align (level 1: it verifies, never contradicts), not to count as the same metric word.
    reordered = not heads and ref.own_head and _same_chars(ref.head, f.near)
    shared_abbr = any(t[0] == "#" for t in ref.near & f.near)
    subjectless = _subjectless(ref)
    if subjectless and uclass in RATIO_UNITS and not _specific(claim) and _qualifiers(ref) \
            and not _same_subject(ref, f):
        # "公司国际航线收入占比为68%": the pronoun names nobody, but 国际航线 says which part it is,
        # and a two-digit share is too common to stand on the metric alone
        subjectless = False
    distinctive = _specific(claim) or shared_abbr
    if not uclass:
        verdict = "agree"  # only agreeing facts are candidates for a claim without a unit
    elif not f.uclass and _count_class(uclass):
        # "月活跃用户为6,850万" against "6850万人": the source left the measure word out. The same
        # value may verify; a bare number never says what a different value counts.
        if f.value < 10_000 or compare(claim, f, ref.role) != "agree":
            return None
        verdict = "agree"
    elif f.uclass != uclass:
        if not _same_number(claim, f):
            return None  # "回落0.2个百分点" and "增长7.4%": another figure, not the same one in another unit
        verdict = "unit"
    elif uclass in RATIO_UNITS and not same_direction(ref.role, f.role):
        verdict = "disagree"
    else:
        verdict = compare(claim, f, ref.role)
    # The metric worded otherwise ("单车均价" for "平均售价", "卖出" for "出栏"): the same figure, too
    # specific to coincide, from a source about the same subject may still verify. It is aligned at
    # the lowest level there is: any statement that lines up better outranks it, and it never
    # contradicts.
    agreed = agreed and verdict == "agree"
    same_subject = bool(names) or agreed or _same_subject(ref, f)
    by_value = verdict == "agree" and _specific(claim) and (
        same_subject or subjectless
        # "资管业务营收为29.5亿元" against "…资产管理业务收入29.5亿元": the metric word and a figure of three
        # digits or more, in a unit other than a ratio, from a claim that names no one (not 某公司)
        or (heads and uclass not in RATIO_UNITS and not ref.names and _ANONYMOUS.search(ref.sentence) is None)
    )
    if not same_subject and not (
        (heads or reordered) and ref.own_head and subjectless and (distinctive or verdict == "agree")
    ) and not (heads and subjectless and verdict == "agree" and bool(ref.head & METRIC_TERMS & f.near)):
        # No shared subject (metric words shared are not one). A claim that names none
        # ("公司资本开支为1640亿元") may still match its metric with a figure too specific to
        # coincide: it can verify, never contradict (see _strong).
        if not by_value:
            return None
        heads = shared_abbr = False
    if not anchored and _displaced(ref, f, similar):
        return None
    cn = ref.near - _NOT_METRIC - ref.names
    fn = f.near - _NOT_METRIC - f.names
    metric = len(cn & fn) / len(cn | fn) if cn and fn else 0.0
    if reordered:  # the same characters, in other words: compared as characters
        cc, fc = {ch for t in cn for ch in t}, {ch for t in fn for ch in t}
        metric = len(cc & fc) / len(cc | fc) if cc and fc else 0.0
    if (heads or shared_abbr) and ref.own_head and (ref.role == "level") == (f.role == "level"):
        level = 2
    elif heads or shared_abbr or cn & fn or not ref.own_head or similar >= SIMILAR or (reordered and verdict == "agree"):
        level = 1
    elif by_value:
        level = 0
    else:
        return None
    direction = uclass not in RATIO_UNITS or same_direction(ref.role, f.role)
    own = ref.terms - _NOT_METRIC
    subject = len(own & f.terms) / len(own) if own else 0.0
    extra = len(fn - ref.terms) / len(fn) if fn else 0.0
    if reordered:
        tc = {ch for t in ref.terms for ch in t}
        extra = sum(1 for t in fn if not set(t) <= tc) / len(fn) if fn else 0.0
    return _Aligned(
        f, level, metric, terms, names, similar, verdict, anchored, heads or shared_abbr, direction, subject, extra,
        bool(ref.own_head and ref.head & f.head), len((fn - _NOT_METRIC) & ref.terms),
    )


def _apart(ref: Referent, f: Fact) -> bool:
    """Statements that neither outrank nor contradict each other whatever their values: a forecast
    and a figure reached ("预计全年将超过1.3亿人次" / "前三季度入境游客9,820万人次"), and a claim and a
    part it does not name ("其中海上风电新增约120万千瓦", "其中出口5.52万台")."""
    return ("fut" in ref.times) != ("fut" in f.times) or _other_part(ref, f)


def _other_part(ref: Referent, f: Fact) -> bool:
    """The fact is a part of a whole ("其中海上风电新增约120万千瓦") named by words the claim does not
    use: it is not what a claim about the whole (or another part) states."""
    part = _part_words(f)
    return bool(part) and not part & ref.terms


def _whole_of(whole: Fact, part: Fact) -> bool:
    """`whole` is stated before the part "其中…" in its sentence, or in the sentence right before one
    that begins with 其中 ("…市场规模约为675亿美元。其中中国大陆市场约为135亿美元")."""
    if whole.source_url != part.source_url or whole.start >= part.start:
        return False
    if whole.sentence == part.sentence:
        return True
    part_from = part.start - max(0, part.sentence.find(part.text))
    whole_to = whole.start - max(0, whole.sentence.find(whole.text)) + len(whole.sentence)
    return part.sentence.lstrip().startswith(_PART_OPENERS) and 0 <= part_from - whole_to <= 2


def _names_part_of(ref: Referent, part: Fact, whole: Fact) -> bool:
    """`part` is a "其中…" part of `whole` ("…合计48.9GW，其中海外订单9.3GW") and the claim's clause names
    what sets the part apart from the whole (海外), half of those words at least, not merely what both
    say (订单, 交付)."""
    distinct = _part_words(part) - whole.near
    return bool(distinct) and _whole_of(whole, part) and len(distinct & ref.near) * 2 >= len(distinct)


def _part_words(f: Fact) -> frozenset[str]:
    """The words that say which part a "其中…" figure is (海上 of 海上风电, not 风电); none for a figure
    that is not a part."""
    at = f.sentence.find(f.text)
    if at < 0:
        return frozenset()
    start = max((m.end() for m in CLAUSE_STOP.finditer(f.sentence, 0, at)), default=0)
    if not f.sentence.startswith(_PART_OPENERS, start):
        return frozenset()
    whole = sentence_terms(f.sentence[:start])
    return f.near - whole - METRIC_TERMS - _NOT_METRIC - _NOT_SUBJECT


_PART_OPENERS = ("其中", "其中，", "包括", "内含")


def _same_number(claim: Claim, f: Fact) -> bool:
    """The same figure as written, whatever its unit ("提升2.1个百分点" / "提升2.1%", "180亿元" /
    "180亿美元"): what a unit error looks like."""
    return abs(claim.value - f.value) <= max(min(claim.step, f.step), 1e-9) * 0.5 + 1e-9 * abs(f.value)


def _displaced(ref: Referent, f: Fact, similar: float) -> bool:
    """The source sentence lists peers ("韩国、日本、马来西亚位列前三，其中韩国游客同比增长约82%") and
    the figure belongs to one of them: a claim whose clause names another peer (日本游客) and not
    that one is about someone the source gives no figure for (`similar`: how alike the sentences are)."""
    if "、" not in f.sentence or similar >= SIMILAR:
        return False
    for members in _peers(f.sentence):
        own = [m for m in members if m & f.near]
        said = [m for m in members if m & ref.near]
        if own and said and not any(m in own for m in said):
            return True
    return False


@lru_cache(maxsize=65_536)
def _peers(sentence: str) -> tuple[tuple[frozenset[str], ...], ...]:
    """The lists of a sentence ("家电、手机数码、服装"), each member as the words only it has."""
    out = []
    for m in _LIST.finditer(sentence):
        parts = [p for p in re.split("、|和|与|及", m.group(0)) if p]
        words = [frozenset(t for t, _, _ in tokens(p)) - METRIC_TERMS - RANK_WORDS for p in parts]
        unique = tuple(w - frozenset().union(*(o for j, o in enumerate(words) if j != i)) for i, w in enumerate(words))
        if len(unique) >= 2 and all(unique):
            out.append(unique)
    return tuple(out)


_LIST = re.compile(r"[\u4e00-\u9fffA-Za-z]{1,8}(?:、[\u4e00-\u9fffA-Za-z]{1,8})+(?:(?:和|与|及)[\u4e00-\u9fffA-Za-z]{1,8})?")


def _same_chars(head: frozenset[str], near: frozenset[str]) -> bool:
    """Every character of one of the claim's two-character metric words stands in one word of the
    fact's clause or across two of them, and the word is not a lexicon word (those match as words)."""
    chars = {ch for t in near for ch in t}
    return any(len(h) == 2 and not is_named(h) and h not in METRIC_TERMS and set(h) <= chars for h in head)


_NOT_METRIC = frozenset({"同比", "环比"})
#: Words of a sentence that say when or how, not who: never a subject word ("截至9月底，锦程旗下…").
_NOT_SUBJECT = frozenset(
    "月底 月末 年底 年末 年初 月初 季末 截至 目前 当前 如今 旗下 共有 拥有 合计 其中 整体 全年 同期 上半 下半 "
    "前三 三季 一季 二季 四季 季度 去年 今年 上年 本年 报告 期内 数据 显示 实现 录得 达到".split()
) | RANK_WORDS  # "惠普以1,440万台位居第二": where it stands is not who it is


def _similarity(sentence: str, f: Fact) -> float:
    """How alike a claim's sentence and a fact's are: Jaccard of their terms (the fact's as stored)."""
    ta, tb = sentence_terms(sentence), f.sentence_terms
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


def _evidence(facts: list[Fact]) -> list[Evidence]:
    seen, out = set(), []
    for f in facts:
        key = (f.source, f.sentence, f.value, f.value_hi)
        if key in seen:
            continue
        seen.add(key)
        out.append(Evidence(source=f.source, quote=quote_of(f), value=f.value, sentence=f.sentence, fact_id=f.id))
        if len(out) == MAX_EVIDENCE:
            break
    return out


#: Units that measure the same kind of quantity: a figure in one where the source has another is a
#: unit error (亿元 for 亿美元, % for 个百分点), when everything else aligns.
_KINDS: tuple[frozenset[str], ...] = (
    frozenset({"usd", "cny", "eur", "hkd", "jpy", "gbp", "krw", "twd"}),
    frozenset({"%", "pp", "‰", "bp"}),
    frozenset({"年", "月", "季度", "天", "周", "小时"}),
    frozenset({"w", "kw", "mw", "gw", "瓦", "千瓦", "兆瓦", "吉瓦"}),
    frozenset({"kwh", "mwh", "gwh", "twh", "千瓦时", "兆瓦时", "度电", "度"}),
    frozenset({"gb", "tb", "pb", "mb", "kb", "gib", "tib"}),
)


_MEASURE = frozenset(MEASURE_WORDS)


def _count_class(uclass: str) -> bool:
    """A count by measure word (人, 家, 辆, 台): neither money, a ratio, a duration nor a physical unit."""
    return uclass in _MEASURE and not any(uclass in kind for kind in _KINDS)


def kind_classes(uclass: str) -> list[str]:
    """`uclass` first, then the other unit classes of the same kind of quantity."""
    for kind in _KINDS:
        if uclass in kind:
            return [uclass, *sorted(kind - {uclass})]
    return [uclass]
# -- comparing values ---------------------------------------------------------------------------------

_MARKUP = re.compile(MARKUP)
_LEAD_IN = re.compile(r"^(?:据[^，,。]{0,12}|[^，,。]{0,12}(?:指出|显示|表示|称|报道|披露|提到))[，,：:]")


def _verbatim(claim_sentence: str, fact_sentence: str) -> bool:
    """One sentence contains the other, once citation markers, list markers, emphasis, blanks, a
    short label ("基准：") or a lead-in ("报告指出，") are gone. Short fragments never count."""
    a, b = _bare(claim_sentence), _bare(fact_sentence)
    if len(a) < 12 or len(b) < 12:
        return False
    if a in b or b in a:
        return True
    return any(bare != a and len(bare) >= 12 and (bare in b or b in bare) for bare in _unlabelled(a))


@lru_cache(maxsize=65_536)
def _bare(sentence: str) -> str:
    return _MARKUP.sub("", sentence).rstrip("。；;，,")


@lru_cache(maxsize=16_384)
def _unlabelled(sentence: str) -> tuple[str, str]:
    """The sentence without a short label ("基准：") and without a lead-in ("报告指出，")."""
    return LABEL.sub("", sentence), _LEAD_IN.sub("", sentence)


def _same_value(a: Fact, b: Fact) -> bool:
    """Two stored facts state the same figure (within their written precision)."""
    return compare(_as_claim(a), b, a.role) == "agree"


def _as_claim(f: Fact) -> Claim:
    return Claim(f.text, f.start, f.end, f.value, f.value_hi, f.unit, f.approx, f.bound, f.step, f.sig_step)


def _value_window(c: Claim) -> tuple[float, float]:
    """Values a stored fact may have and still agree with `c` (then judged exactly by `compare`)."""
    lo, hi = _tight(abs(c.value), c.step, c.sig_step, c.bound)
    top = abs(c.value_hi) if c.value_hi is not None else hi
    return min(lo, -hi), max(hi, top + c.step)


def _tight(v: float, step: float, sig: float, bound: str) -> tuple[float, float]:
    """The interval of true values the written figure commits to (its own precision)."""
    a = abs(v)
    span = min(sig, max(BOUND_SPAN * a, sig / 2)) if sig else BOUND_SPAN * a  # "一成以上" reaches 15%
    if bound == "over":
        return v, v + span
    if bound == "under":
        return v - span, v
    if bound == "about":
        half = max(step / 2, min(sig / 2, 0.05 * a))
        return v - half, v + half
    return v - step / 2, v + step / 2


def _loose(v: float, step: float, sig: float, bound: str) -> tuple[float, float]:
    """Values the figure does not rule out: an approximation read at its last significant digit."""
    if bound == "over":
        return v, math.inf
    if bound == "under":
        return -math.inf, v
    half = max(step, sig if bound == "about" else step) / 2
    return v - half, v + half


def _within(x: float, lo: float, hi: float) -> bool:
    eps = 1e-9 * max(abs(lo), abs(hi), abs(x), 1e-300)
    return lo - eps <= x <= hi + eps


def _signed(v: float, role: str, unit: str = "%") -> float:
    """A rate of decline as a negative number ("下降5%" = "-5%"); other quantities as written."""
    return -abs(v) if role.startswith("change:down") and unit in RATIO_UNITS else v


_GROWTH_FORMS = {"x": "%", "%": "x"}


def _to_growth(m: float) -> float:
    return (m - 1) * 100


def _to_multiple(g: float) -> float:
    return 1 + g / 100


def _as_form(f: Fact, unit: str, role: str) -> Fact:
    """A growth rate written as a multiple of the earlier level (x), or a multiple as a rate (%)."""
    if unit == "x":
        value, hi, k = _to_multiple(f.value), None if f.value_hi is None else _to_multiple(f.value_hi), 0.01
    else:
        value, hi, k = _to_growth(f.value), None if f.value_hi is None else _to_growth(f.value_hi), 100.0
    return replace(f, value=value, value_hi=hi, unit=unit, uclass=unit, role=role, step=f.step * k,
                   sig_step=f.sig_step * k)


_PER_SHARES = re.compile(r"每\s*(?P<n>[0-9]+|十)?\s*股(?!收益|净资产|经营)[^，,。；;]{0,10}$")


def _per_shares(sentence: str, figure: str) -> int:
    """How many shares an amount is per ("每股派0.25元": 1, "每10股派发现金红利12.2元": 10), else 0."""
    if "股" not in sentence:
        return 0
    at = sentence.find(figure)
    m = _PER_SHARES.search(sentence, max(0, at - 14), at) if at >= 0 else None
    if m is None:
        return 0
    n = m.group("n")
    return 1 if n is None else 10 if n == "十" else int(n)


def _of_previous(sentence: str, figure: str) -> bool:
    """A multiple of the earlier period's level ("是上年的2.4倍", "为去年同期的2.1倍"), not of something
    else ("是宁德时代的2.6倍", "是宁德时代去年的2.6倍")."""
    at = sentence.find(figure)
    return at > 0 and _OF_PREVIOUS_MULTIPLE.search(sentence, 0, at) is not None


def _multiple_form(f: Fact, role: str) -> Fact:
    """A multiple read as the claim's role: a level of m times as a rise of m - 1 times, or back."""
    k = -1.0 if role.startswith("change") else 1.0
    return replace(f, value=f.value + k, value_hi=None if f.value_hi is None else f.value_hi + k, role=role)


def _scaled_fact(f: Fact, k: float) -> Fact:
    return replace(f, value=f.value * k, value_hi=None if f.value_hi is None else f.value_hi * k, step=f.step * k,
                   sig_step=f.sig_step * k)


def _signed_bound(bound: str, role: str, unit: str) -> str:
    """"下降逾五成" is below -50%: with a decline written as a negative number, over and under swap."""
    if role.startswith("change:down") and unit in RATIO_UNITS:
        return {"over": "under", "under": "over"}.get(bound, bound)
    return bound


def _point(cv: float, cstep: float, csig: float, cbound: str, fv: float, fstep: float, fsig: float, fbound: str) -> str:
    if _within(fv, *_tight(cv, cstep, csig, cbound)):
        return "agree"
    if fbound in ("over", "under") and _within(cv, *_loose(fv, fstep, fsig, fbound)):
        return "unclear"  # the source only bounds it
    if cbound in ("over", "under") and _within(fv, *_loose(cv, cstep, csig, cbound)):
        return "unclear"  # "超4000亿" and 8000亿: true, but not what the source says
    if cstep < fstep and _within(cv, *_tight(fv, fstep, fsig, fbound)):
        return "unclear"  # the claim is more precise than its source
    if cbound == "about" and _within(fv, *_loose(cv, cstep, csig, cbound)):
        return "unclear"  # "约2万亿" for 1.8万亿: loose, not plainly wrong
    return "disagree"


def compare(claim: Claim, fact: Fact, role: str = "level") -> str:
    """"agree", "disagree" or "unclear" (consistent but not the same statement), judged within the
    claim's own written precision. `role` signs a change ("下降5%" is -5%)."""
    u = unit_class(claim.unit)
    ck, fk = unit_factor(claim.unit), unit_factor(fact.unit)
    if ck != fk:  # "一年半" against "18个月": compare in the class's base unit
        claim = Claim(claim.text, claim.start, claim.end, claim.value * ck,
                      None if claim.value_hi is None else claim.value_hi * ck, claim.unit, claim.approx, claim.bound,
                      claim.step * ck, claim.sig_step * ck)
        fact = _scaled_fact(fact, fk)
    cv, fv = _signed(claim.value, role, u), _signed(fact.value, fact.role, u)
    c_hi = None if claim.value_hi is None else _signed(claim.value_hi, role, u)
    f_hi = None if fact.value_hi is None else _signed(fact.value_hi, fact.role, u)
    cb = "about" if claim.bound and c_hi is not None else _signed_bound(claim.bound, role, u)
    fb = "about" if fact.bound and f_hi is not None else _signed_bound(fact.bound, fact.role, u)
    if c_hi is None and f_hi is None:
        return _point(cv, claim.step, claim.sig_step, cb, fv, fact.step, fact.sig_step, fb)
    if c_hi is not None and f_hi is not None:
        ends = [
            _point(cv, claim.step, claim.sig_step, cb, fv, fact.step, fact.sig_step, fb),
            _point(c_hi, claim.step, claim.sig_step, cb, f_hi, fact.step, fact.sig_step, fb),
        ]
        if ends == ["agree", "agree"]:
            return "agree"
        if "agree" in ends and "disagree" in ends:
            return "disagree"  # 110亿至150亿 for 110亿至120亿: one end moved
        overlap = min(cv, c_hi) <= max(fv, f_hi) and min(fv, f_hi) <= max(cv, c_hi)
        return "unclear" if overlap else "disagree"
    if c_hi is None:
        lo, hi = sorted((fv, f_hi if f_hi is not None else fv))
        pad = max(claim.step, fact.step) / 2
        return "unclear" if lo - pad <= cv <= hi + pad else "disagree"
    lo, hi = sorted((cv, c_hi))
    pad = max(claim.step, fact.step) / 2
    return "unclear" if lo - pad <= fv <= hi + pad else "disagree"


# -- derived figures ----------------------------------------------------------------------------------

_SHARE_WORDS = re.compile(r"占|比重|占比|份额|率|比例")
_SUM_WORDS = re.compile(r"合计|总计|共计|加起来|两者|二者|两家|两项|合共|一共|总和")
_DIFF_WORDS = re.compile(r"(?:多|少|高出|低于|高于|相差|差距|缺口|多出|少了|减少了|增加了)[了约近超逾达]*$")
_NON_LEVEL = {"%", "pp", "‰", "bp", "x", ""}


def derive(claim: Claim, ref: Referent, store: FactStore) -> tuple[str, list[Evidence]] | None:
    """Recompute a figure the sources do not state from two levels they do; None when none applies.

    * a growth rate (a change in %): two levels of the claim's metric, the earlier one said of the
      previous period ("上年同期为…") or a year before the other;
    * a share or a margin (a level in %): a part and a whole of one unit from one source sentence
      or source, each of whose metric words the claim's sentence names;
    * a sum ("合计", "两者") or a difference ("多出", "高出") of two levels of one unit, each named
      in the claim's sentence;
    * an earlier level ("上年同期营收约为…", "年初…", a figure of the quarter a change is measured
      from): the later level of the claim's metric less the change stated right after it
      (`_earlier_levels`);
    * what is left of a whole ("X以外的…", "除A和B外，其余…"): the whole less the parts named in
      what the claim leaves out (`_named_items`), never contradicted.

    Verified when one such pair gives the claim's value within the claim's own precision;
    contradicted when exactly one pair applies (for an earlier level: the one later level whose
    clause is most like the claim's) and gives a value outside what the claim's wording allows.
    Operands must be named in the claim's sentence: a ratio of two figures picked at random matches a
    claim's value by chance too often.
    """
    if claim.value_hi is not None:
        return None
    u = unit_class(claim.unit)
    growth = u in ("%", "x") and ref.role.startswith("change")
    share = u == "%" and ref.role == "level" and _SHARE_WORDS.search(ref.sentence) is not None
    before = ref.sentence[: max(0, ref.sentence.find(claim.text))]
    rest = u not in _NON_LEVEL and "rest" in ref.times
    combined = not rest and u not in _NON_LEVEL and bool(_SUM_WORDS.search(ref.sentence) or _DIFF_WORDS.search(before))
    earlier = (
        ref.role == "level" and u not in _NON_LEVEL
        and bool({"prev", "p:start"} & ref.times or any(t[0] == "q" for t in ref.times))
    )
    if not (growth or share or combined or earlier or rest):
        return None  # no figure of this kind is derived: no lookup
    words = ref.terms
    pool = [
        f for f in store.candidates((ref.near | ref.head | ref.names) - _NOT_METRIC, None, limit=CANDIDATES)
        if f.role == "level" and f.uclass not in _NON_LEVEL
        and not (ref.names and f.names and not ref.names & f.names)
        and (ref.names & f.names or len(ref.terms & f.terms) >= 3)
    ]
    if not pool:
        return None
    pairs: list[tuple[Fact, Fact, float, str]] = []
    closest: list[tuple[Fact, Fact, float, str]] = []
    if growth:
        metric = [f for f in pool if (ref.head & f.near or f.head & ref.near) and not times_conflict(ref.times, f.times - {"prev"})]
        for old in metric:
            for new in metric:
                if old.id == new.id or old.uclass != new.uclass or old.value <= 0:
                    continue
                ya, yb = _years(old), _years(new)
                old_first = ("prev" in old.times and "prev" not in new.times and old.source_url == new.source_url) or bool(
                    ya and yb and max(yb) - max(ya) == 1
                )
                if old_first:
                    value = (new.value / old.value - 1) * 100 if u == "%" else new.value / old.value
                    formula = f"({_fmt(new)} − {_fmt(old)}) / {_fmt(old)}" if u == "%" else f"{_fmt(new)} / {_fmt(old)}"
                    pairs.append((old, new, value, formula))
    elif share:
        named = [f for f in pool if f.head & words]
        for part in named:
            for whole in named:
                if part.id == whole.id or part.uclass != whole.uclass or not 0 < part.value < whole.value:
                    continue
                if part.source_url != whole.source_url or part.times != whole.times:
                    continue
                if part.names and whole.names and not part.names & whole.names:
                    continue  # 美光's revenue is no part of 三星's: two peers, not a part and its whole
                pairs.append((part, whole, part.value / whole.value * 100, f"{_fmt(part)} / {_fmt(whole)}"))
    elif combined:
        named = [f for f in pool if f.uclass == u and f.head & words]
        total = bool(_SUM_WORDS.search(ref.sentence)) and not _DIFF_WORDS.search(before)
        for x in named:
            for y in named:
                if x.id >= y.id or x.source_url != y.source_url or x.times != y.times:
                    continue
                if total:
                    pairs.append((x, y, x.value + y.value, f"{_fmt(x)} + {_fmt(y)}"))
                else:
                    big, small = (x, y) if x.value >= y.value else (y, x)
                    pairs.append((big, small, big.value - small.value, f"{_fmt(big)} − {_fmt(small)}"))
    elif rest:
        # "HBM以外的DRAM营收", "除A和B外，其余…": a whole (not itself a "其中…" part) less the parts that
        # the claim leaves out, each named by one item of what it leaves out
        items = [sentence_terms(x) for x in re.split("以及|和|与|及|、", left_out(ref.sentence, 0, max(0, ref.sentence.find(claim.text))))]
        named = [f for f in pool if f.uclass == u and f.head & words]
        for whole in named:
            if _part_words(whole) or (whole.near - METRIC_TERMS - _NOT_METRIC - _WHOLE_WORDS) - ref.terms:
                continue  # a part, or a sibling ("空调出货量90万台" is not what "除冰箱外，其余产品" is left of)
            others = [f for f in named if f.id != whole.id and f.source_url == whole.source_url
                      and f.times == whole.times and f.value < whole.value]
            parts = _named_items(items, others)
            if parts and sum(f.value for f in parts) < whole.value:
                left = whole.value - sum(f.value for f in parts)
                pairs.append((whole, parts[0], left, " − ".join(_fmt(f) for f in [whole, *parts])))
    if earlier and not pairs:
        pairs = _earlier_levels(ref, u, pool, store)
        # the later level that shares the most of the claim's clause is the one it restates
        best = max((len(ref.near & a.near) for a, *_ in pairs), default=0)
        closest = [p for p in pairs if len(ref.near & p[0].near) == best]
    if not pairs:
        return None
    signed = _signed(claim.value, ref.role, u)
    bound = _signed_bound(claim.bound, ref.role, u)
    lo, hi = _tight(signed, claim.step, claim.sig_step, bound)
    for a, b, value, formula in pairs:
        if _within(value, lo, hi):
            return VERIFIED, [_derived(a, b, value, formula, claim.unit)]
    # A contradiction needs the one pair there is, and for a share or a sum both operands named in the
    # claim's sentence by at least two words each: a ratio of two figures picked wrongly is too easy.
    named_both = len(pairs) == 1 and all(len(x.near & words) >= 2 for x in pairs[0][:2])
    if earlier and len(closest) == 1:
        pairs = closest  # of several later levels, the one whose clause is most like the claim's
    # What is left of a whole may leave out more than the parts the sources state: never contradicted.
    if len(pairs) == 1 and (ref.role.startswith("change") or named_both or earlier) and not rest:
        a, b, value, formula = pairs[0]
        if not _within(value, *_loose(signed, claim.step, claim.sig_step, bound or "about")):
            return CONTRADICTED, [_derived(a, b, value, formula, claim.unit)]
    return None


_SINCE_YEAR_START = re.compile(r"(?:较|比)年初")
#: "是上年同期的2.1倍", "为去年的", "相当于上一年的": nothing between the verb and the earlier period.
_OF_PREVIOUS_MULTIPLE = re.compile(r"(?:是|为|达到|相当于|约为|已是)(?:上年同期|去年同期|上年|去年|上一年)的?\s*(?:约|近)?$")


def _earlier_levels(ref: Referent, u: str, pool: list[Fact], store: FactStore) -> list[tuple[Fact, Fact, float, str]]:
    """A level of an earlier period recomputed from a later level and the change the source gives
    with it: "38架，较年初净增4架" → 年初 34架; "21.5分钟，较二季度增加3.2分钟" → 二季度 18.3分钟;
    "营收27.45亿元，同比增长32.8%" → 上年同期 20.67亿元. The later level states the claim's metric;
    the change follows it in its sentence and is measured from the claim's period."""
    pairs = []
    known = (ref.near & METRIC_TERMS) - _NOT_METRIC
    for level in pool:
        if level.uclass != u or not (ref.head & level.near or level.head & ref.near) or "prev" in level.times:
            continue
        stated = (level.near & METRIC_TERMS) - _NOT_METRIC
        if known != stated and (known or stated):
            continue  # "上年同期归母净利润" is not recomputed from 营收: the same known metric, or none on both
        for change in _attached(level, store):
            since = change.sentence[: max(0, change.sentence.find(change.text))]
            if change.uclass == "x" and change.role == "level":
                # "收入9.8亿元，是上年同期的2.1倍": the earlier level is the later one divided by m
                if not ("prev" in ref.times and _OF_PREVIOUS_MULTIPLE.search(since)):
                    continue
                value = level.value / change.value if change.value > 0 else 0.0
                formula = f"{_fmt(level)} / {_fmt(change)}"
            elif change.role.startswith("change"):
                if "prev" in ref.times:
                    base = change.role.endswith(":yoy")
                elif "p:start" in ref.times:
                    base = _SINCE_YEAR_START.search(since) is not None
                else:
                    base = any("b" + t in change.times for t in ref.times if t[0] == "q")
                if not base:
                    continue
                sign = -1.0 if ":down:" in change.role + ":" else 1.0
                if change.uclass == u:
                    value = level.value - sign * change.value * unit_factor(change.unit) / unit_factor(level.unit)
                    formula = f"{_fmt(level)} {'−' if sign > 0 else '+'} {_fmt(change)}"
                elif change.uclass == "%":
                    value = level.value / (1 + sign * change.value / 100)
                    formula = f"{_fmt(level)} / (1 {'+' if sign > 0 else '−'} {_fmt(change)})"
                else:
                    continue
            else:
                continue
            if value > 0:
                pairs.append((level, change, value, formula))
            break
    return pairs


#: Words a whole may hold that a claim about what is left of it need not say ("全球DRAM产业收入").
_WHOLE_WORDS = frozenset("全球 全国 产业 行业 合计 总计 整体 全部 累计 录得 实现 总额 总量 整个 全年 公司 集团".split())


def _named_items(items: list[frozenset[str]], facts: list[Fact]) -> list[Fact]:
    """For each item of a list ("线上渠道和企业渠道"), in turn, the fact not yet taken whose clause holds
    all of its words (or a "其中…" part whose own words are all in it: "寰宇电信上半年通信服务以外的"
    leaves out "其中通信服务收入…"), and no other fact does; [] when an item names none plainly."""
    out: list[Fact] = []
    for item in items:
        ranked = sorted(
            (
                (1.0 if (part := _part_words(f)) and part <= item else len(item & f.near) / len(item), f.id)
                for f in facts if item and all(f.id != o.id for o in out)
            ),
            reverse=True,
        )
        if not ranked or ranked[0][0] < 1 or (len(ranked) > 1 and ranked[1][0] == ranked[0][0]):
            return []  # every word of the item ("海上风电" is not "陆上风电"), and one fact only
        out.append(next(f for f in facts if f.id == ranked[0][1]))
    return out


def _attached(level: Fact, store: FactStore) -> list[Fact]:
    """The figures that follow a level in its sentence up to the next level: its own changes
    ("营收27.45亿元，同比增长32.8%"), not those of the metric after it ("…，归母净利润3.2亿元，同比增长10%")."""
    own = (level.near & METRIC_TERMS) - _NOT_METRIC
    out = []
    for f in sorted(store.sentence_facts(level.id), key=lambda f: f.start):
        if f.start <= level.end:
            continue
        if f.role == "level" and not (f.uclass == "x" and _OF_PREVIOUS_MULTIPLE.search(f.sentence, 0, max(0, f.sentence.find(f.text)))):
            break  # the next level begins another statement ("毛利率为42%，同比提升10%")
        other = (f.near & METRIC_TERMS) - _NOT_METRIC
        if other - own and not (level.near & f.near) - _NOT_METRIC:
            break  # "营收27.45亿元，归母净利润同比增长10%": that change is another metric's
        out.append(f)
    return out


_YEAR = re.compile(r"y((?:19|20)[0-9]{2})")


def _years(f: Fact) -> set[int]:
    return {int(m.group(1)) for t in f.times if (m := _YEAR.fullmatch(t))}


def _fmt(f: Fact) -> str:
    return format_value(f.value, None, f.unit)


def _derived(a: Fact, b: Fact, value: float, formula: str, unit: str) -> Evidence:
    if unit == "%":
        shown = f"{value:.4g}%"
    elif unit == "x":
        shown = f"{value:.4g}x"
    else:
        shown = format_value(value, None, a.unit)
    quote = quote_of(a) if a.sentence == b.sentence else f"{quote_of(a, 60)} / {quote_of(b, 60)}"
    return Evidence(source=a.source, quote=quote, value=value, basis="derived", formula=f"{formula} = {shown}",
                    sentence=a.sentence)


# -- presenting -----------------------------------------------------------------------------------------


def quote_of(f: Fact, width: int = QUOTE_CHARS) -> str:
    """The fact's sentence, cut to `width` characters around its number."""
    s = " ".join(f.sentence.split())
    if len(s) <= width:
        return s
    i = s.find(f.text)
    if i < 0:
        return s[: width - 1] + "…"
    a = max(0, min(i - width // 2, len(s) - width))
    b = a + width
    return ("…" if a > 0 else "") + s[a:b].strip() + ("…" if b < len(s) else "")


def mark_contradicted(text: str, report: CheckReport) -> str:
    """`text` with ⚠ inserted right after each contradicted claim (offsets from `check_text(text)`)."""
    out = text
    for c in sorted((c for c in report.claims if c.status == CONTRADICTED), key=lambda c: c.end, reverse=True):
        if out[c.start : c.end] != c.text:
            raise ValueError(f"report does not match the text at {c.start}:{c.end} ({c.text!r})")
        if out[c.end : c.end + 1] != "⚠":
            out = out[: c.end] + "⚠" + out[c.end :]
    return out


def _plain(x: float) -> str:
    if x != 0 and abs(x) < 1:
        return f"{x:.6g}"
    s = f"{round(x, 4):f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


def _scaled(v: float) -> str:
    a = abs(v)
    for size, word in ((1e12, "万亿"), (1e8, "亿"), (1e4, "万")):
        if a >= size:
            return _plain(v / size) + word
    return _plain(v)


def format_value(value: float, value_hi: float | None, unit: str) -> str:
    """Human-readable normalized value in 万/亿 style: 4.55e11, "USD" → "4550亿 USD"."""
    number = _scaled(value) if value_hi is None else f"{_scaled(value)}–{_scaled(value_hi)}"
    if unit in ("%", "‰"):
        return number + unit
    if unit == "x":
        return number + "x"
    return f"{number} {unit}" if unit else number
