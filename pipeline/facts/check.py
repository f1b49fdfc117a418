"""Check every number of a report against the facts store: verified, contradicted or unsupported.

The rules, and why:

* **verified** — a stored fact has a compatible unit, a value that agrees within the precision written
  on either side ("约4550亿" / "4550亿" / "4.55千亿"; "334亿" covers 333.98亿), no other year or
  quarter, and its sentence shares the claim's referent: two content words, one of which is a name
  (company, product, unknown proper noun); or, without a name, three words, two of them in the
  clauses of both numbers, and a specific figure (three significant digits or more: round numbers
  coincide too easily). A sentence that names nothing borrows the names of the previous sentence
  ("甲骨文公布财报。其RPO约4550亿美元。").
* **contradicted** — a fact of the same unit class whose clause *and* sentence share the claim's
  referent (at least one word near both numbers, two in the sentences, one of them a name: a
  company, a product, an unknown proper noun — i.e. the same entity and the same metric), whose
  year or quarter does not differ, and whose value clearly disagrees; and no such fact is merely
  vague about it (inside a range, below an "超…" bound), and all such facts state one same value
  (several values for one referent are a series the sentences do not date). A false ⚠ in a
  published report is costly, so anything less certain stays unsupported.
* **unsupported** — everything else: the number may be right, nobody here can say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from pipeline.facts.extract import Claim, extract_claims, unit_class
from pipeline.facts.referents import Referent, TextReferents, is_named, times_conflict
from pipeline.facts.store import Fact, FactStore

VERIFIED = "verified"
CONTRADICTED = "contradicted"
UNSUPPORTED = "unsupported"
STATUSES = (VERIFIED, CONTRADICTED, UNSUPPORTED)

REVERSE_WINDOW = 0.05  # a fact rounded more coarsely than the claim is looked for within ±5 %
MAX_EVIDENCE = 2
QUOTE_CHARS = 120


@dataclass
class Evidence:
    """A stored fact shown as support or contradiction: where it is from, what it says."""

    source: str
    quote: str
    value: float


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

    def to_json(self) -> dict:
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
                    "evidence": [{"source": e.source, "quote": e.quote, "value": e.value} for e in c.evidence],
                }
                for c in self.claims
            ],
            "summary": {k: int(self.summary.get(k, 0)) for k in STATUSES},
        }


def check_text(text: str, store: FactStore) -> CheckReport:
    """Extract the claims of `text` and judge each against `store`. Offsets index into `text`."""
    refs = TextReferents(text, carry_names=True)
    checked = []
    for c in extract_claims(text):
        status, facts = judge(c, refs.referent(c.start, c.end), store)
        evidence = [Evidence(source=f.source, quote=quote_of(f), value=f.value) for f in facts]
        checked.append(
            CheckedClaim(c.text, c.start, c.end, c.value, c.value_hi, c.unit, c.approx, status, evidence)
        )
    summary = {k: sum(1 for c in checked if c.status == k) for k in STATUSES}
    return CheckReport(claims=checked, summary=summary)


def judge(claim: Claim, ref: Referent, store: FactStore) -> tuple[str, list[Fact]]:
    """Status of one claim and the facts that back it (verified) or contradict it."""
    uclass = unit_class(claim.unit)
    lo, hi = _value_window(claim)
    specific = _specific(claim)
    # Every rule below needs a shared name, or (for a specific figure) shared words near the number:
    # those are the only terms worth looking candidates up by.
    named = frozenset(t for t in ref.terms | ref.context if is_named(t))
    # The claim's sentence is a source sentence, quoted: the strongest evidence there is, whatever
    # names the word lists know (the extractive engine writes nothing else).
    verbatim = [
        f for f in store.facts_near(None if not uclass else (uclass, ""), ref.terms | ref.near, lo, hi)
        if _verbatim(ref.sentence, f.sentence) and compare(claim, f) == "agree"
    ]
    if verbatim:
        return VERIFIED, _best([(len(ref.near & f.near), len(ref.terms & f.terms), f) for f in verbatim])
    agreeing = []
    for f in store.facts_near(None if not uclass else (uclass, ""), named | ref.near if specific else named, lo, hi):
        m = len(ref.near & f.near)
        shared = (ref.terms | ref.context) & f.terms
        if len(shared) < 2 or not (any(is_named(t) for t in shared) or (specific and m >= 2 and len(shared) >= 3)):
            continue
        if compare(claim, f) == "agree" and not times_conflict(ref.times, f.times):
            agreeing.append((m, len(shared), f))
    if agreeing:
        return VERIFIED, _best(agreeing)
    if not uclass:
        return UNSUPPORTED, []  # no unit written: never a contradiction
    verdicts: dict[str, list[tuple[int, int, Fact]]] = {"agree": [], "unclear": [], "disagree": []}
    for f in store.facts_by_terms(uclass, named - ref.context):  # a carried name never contradicts
        if f.uclass != uclass:
            continue
        m, s = _overlap(ref, f)
        if m >= 1 and s >= 2 and _names_shared(ref, f) and not times_conflict(ref.times, f.times):
            verdicts[compare(claim, f)].append((m, s, f))
    if verdicts["agree"]:
        return VERIFIED, _best(verdicts["agree"])
    disagree = _best(verdicts["disagree"], limit=None)
    if disagree and not verdicts["unclear"] and all(_same_value(disagree[0], f) for f in disagree[1:]):
        return CONTRADICTED, disagree[:MAX_EVIDENCE]
    # Nothing, something vague, or several values for the same referent (a series over time the
    # sentences do not date): the figure may be right for a case the store does not single out.
    return UNSUPPORTED, []


_MARKUP = re.compile(r"\[\d{1,3}\]|⚠|^\s*(?:[-*+]|\d{1,2}[.、])\s+|[\s*_`>#]")


_LABEL = re.compile(r"^[^，,。：:]{1,6}[：:]")


def _verbatim(claim_sentence: str, fact_sentence: str) -> bool:
    """One sentence contains the other, once citation markers, list markers, emphasis and blanks are
    gone (a quote may end at a clause, so either may be the longer). Short fragments never count."""
    a = _MARKUP.sub("", claim_sentence).rstrip("。；;，,")
    b = _MARKUP.sub("", fact_sentence).rstrip("。；;，,")
    if len(a) < 12 or len(b) < 12:
        return False
    unlabelled = _LABEL.sub("", a)  # a report may put a short label before a quote: "基准：…"
    return a in b or b in a or (len(unlabelled) >= 12 and unlabelled in b)


def _same_value(a: Fact, b: Fact) -> bool:
    """Two stored facts state the same figure (within their written precision)."""
    qa = _ends(a.value, a.value_hi, a.step, a.sig_step, a.bound)
    qb = _ends(b.value, b.value_hi, b.step, b.sig_step, b.bound)
    return len(qa) == len(qb) and all(_point_cmp(x, y) == "agree" for x, y in zip(qa, qb, strict=True))


def _names_shared(ref: Referent, f: Fact) -> bool:
    return any(is_named(t) for t in ref.terms & f.terms)


def _best(scored: list[tuple[int, int, Fact]], limit: int | None = MAX_EVIDENCE) -> list[Fact]:
    """Facts by referent overlap (clause words, then sentence words), one per source sentence."""
    scored.sort(key=lambda t: (-t[0], -t[1], t[2].id))
    seen, out = set(), []
    for _, _, f in scored:
        key = (f.source, f.sentence, f.value, f.value_hi)
        if key not in seen:
            seen.add(key)
            out.append(f)
        if limit is not None and len(out) == limit:
            break
    return out


def _overlap(ref: Referent, f: Fact) -> tuple[int, int]:
    return len(ref.near & f.near), len(ref.terms & f.terms)


def _specific(c: Claim) -> bool:
    """Three significant digits or more: a coincidence of such a figure is unlikely."""
    if c.value == 0 or c.sig_step <= 0:
        return False
    return math.floor(math.log10(abs(c.value) / c.sig_step) + 1e-9) + 1 >= 3


def _value_window(c: Claim) -> tuple[float, float]:
    """Values a stored fact may have and still agree with `c` (then filtered exactly by `compare`)."""
    lo, hi = _interval(c.value, c.step, c.sig_step, c.bound)
    margin = abs(c.value) * REVERSE_WINDOW
    return min(lo, c.value - margin), max(hi, c.value + margin)


# -- comparing values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Q:
    """One written value with its precision: the interval of true values it is consistent with."""

    value: float
    step: float
    sig: float
    bound: str


def _interval(value: float, step: float, sig: float, bound: str) -> tuple[float, float]:
    if bound == "over":
        return value, value + sig
    if bound == "under":
        return value - sig, value
    half = (sig if bound == "about" else step) / 2
    return value - half, value + half


def _inside(x: float, q: _Q) -> bool:
    eps = 1e-9 * max(abs(q.value), abs(x), 1e-300)
    lo, hi = _interval(q.value, q.step, q.sig, q.bound)
    if q.bound == "under":
        return lo + eps < x <= hi + eps
    return lo - eps <= x < hi - eps


def _point_cmp(c: _Q, f: _Q) -> str:
    if _inside(f.value, c) or (f.bound in ("", "about") and _inside(c.value, f)):
        return "agree"
    if (c.bound == "over" and f.value >= c.value) or (c.bound == "under" and f.value <= c.value):
        return "unclear"  # "超4000亿" and 8000亿: true, but not what the source says
    if (f.bound == "over" and c.value >= f.value) or (f.bound == "under" and c.value <= f.value):
        return "unclear"
    return "disagree"


def _ends(value: float, value_hi: float | None, step: float, sig: float, bound: str) -> list[_Q]:
    if value_hi is None:
        return [_Q(value, step, sig, bound)]
    b = "about" if bound else ""
    return [_Q(value, step, sig, b), _Q(value_hi, step, sig, b)]


def compare(claim: Claim, fact: Fact) -> str:
    """"agree", "disagree" or "unclear" (consistent but not the same statement: a value inside a range)."""
    cs = _ends(claim.value, claim.value_hi, claim.step, claim.sig_step, claim.bound)
    fs = _ends(fact.value, fact.value_hi, fact.step, fact.sig_step, fact.bound)
    if len(cs) == 1 and len(fs) == 1:
        return _point_cmp(cs[0], fs[0])
    pad = max(claim.step, fact.step) / 2  # half the coarser written step: what rounding can hide
    if len(cs) == 1:
        c = cs[0]
        if any(_point_cmp(c, f) == "agree" for f in fs):
            return "agree"
        return "unclear" if fs[0].value - pad < c.value < fs[1].value + pad else "disagree"
    if len(fs) == 1:
        return "unclear" if cs[0].value - pad < fs[0].value < cs[1].value + pad else "disagree"
    if _point_cmp(cs[0], fs[0]) == "agree" and _point_cmp(cs[1], fs[1]) == "agree":
        return "agree"
    overlap = cs[0].value < fs[1].value + pad and fs[0].value < cs[1].value + pad
    return "unclear" if overlap else "disagree"


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
