"""The 数据核验 appendix and its evidence file, written by code from the facts check.

An editor reads the appendix to find what needs a second look, not to re-read every number. So it has,
in this order (layout in `templates/partials/data_check.md.j2`):

1. one summary line: 共 N 处数值：已核实 a，存在出入 b，未找到来源 c, and where the full evidence is;
2. a table of every claim that is *not* verified: contradicted first (with the source's own figure and
   quote), then unsupported, each with a few characters of the report around it so it can be found;
3. the verified claims grouped by the source sentence that backs them, one line per sentence: the
   quote once, then the figures of the report it backs (a derived figure with its formula), in the
   order the report first uses them, until the appendix would pass `SHARE` of the report; a last
   line says how many sentences (and figures) are left out and points to the evidence file.

The evidence file `<stem>.check.json` beside the report is exactly what `yanbao check --json` prints
for it (offsets index the file as written, front matter included), and the HTML page shows the same
evidence in a `<details>` block (`partials/data_check_evidence.md.j2`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

from pipeline.run.render import render

if TYPE_CHECKING:  # the checker is imported when a figure is looked up, not with this module
    from pipeline.facts.check import CheckJSON, ClaimJSON, EvidenceJSON

#: The appendix takes at most this share of the report's characters (unless the table of claims that
#: are not verified alone is longer: those are never left out).
SHARE = 0.15
TEMPLATE = "partials/data_check.md.j2"
EVIDENCE_TEMPLATE = "partials/data_check_evidence.md.j2"
LABELS = {"verified": "已核实", "contradicted": "存在出入", "unsupported": "未找到来源"}
CONTEXT_CHARS = 10  # report text shown before a claim that is not verified
_SENTENCE_END = re.compile(r"[。！？；!?;\n]")
_CLAUSE_END = re.compile(r"[。！？；!?;\n，,：:]")
_MARKUP = re.compile(r"\[\d{1,3}\]|[*`#>|]")  # citations, emphasis, code: not what the editor reads


def evidence_name(stem: str) -> str:
    """The evidence file's name beside `<stem>.md`."""
    return f"{stem}.check.json"


def evidence_json(checks: CheckJSON, offset: int = 0) -> str:
    """`checks` as `yanbao check --json` prints it, its offsets moved by `offset` (the front matter
    written before the report)."""
    data = checks
    if offset:
        data = {**checks, "claims": [{**c, "start": c["start"] + offset, "end": c["end"] + offset} for c in checks["claims"]]}
    return json.dumps(data, ensure_ascii=False) + "\n"


class FigureView(TypedDict):
    text: str
    formula: str  # a derived figure's formula, else ""


class LineView(TypedDict):
    """Verified claims grouped by the source sentence that supports them."""

    source: str
    quote: str
    figures: list[FigureView]
    claims: int


class EvidenceRow(TypedDict):
    source: str
    quote: str
    figure: str  # what the source says instead (contradicted claims), else ""


class FlaggedRow(TypedDict):
    """A claim that is not verified, as one table row (`count`: how often the report says it)."""

    text: str
    before: str
    status: str
    evidence: list[EvidenceRow]
    count: int


class AppendixView(TypedDict):
    """What `templates/partials/data_check.md.j2` lays out."""

    summary: dict[str, int]
    total: int
    labels: dict[str, str]
    flagged: list[FlaggedRow]
    lines: list[LineView]
    evidence_file: str | None


def appendix(checks: CheckJSON, body: str, evidence_file: str | None, share: float = SHARE) -> str:
    """The `## 数据核验` appendix for `body` (the report above it; the check's offsets index it)."""
    view = appendix_view(checks, body, evidence_file)
    lines = view["lines"]
    # appendix ≤ share × (body + appendix)  ⇔  appendix ≤ share / (1 − share) × body  (share 1: no cap)
    budget = share / (1 - share) * (len(body.rstrip("\n")) + 2) if share < 1 else float("inf")

    def text(n: int) -> str:
        hidden = lines[n:]
        return render(
            TEMPLATE, check={**view, "lines": lines[:n], "more_lines": len(hidden),
                             "more_claims": sum(g["claims"] for g in hidden)},
        ).rstrip("\n")

    lo, hi = 0, len(lines)  # the most lines that fit: lines only add text, so the length grows with n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(text(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text(lo)


def appendix_view(checks: CheckJSON, body: str, evidence_file: str | None) -> AppendixView:
    """What the template lays out: the summary, the claims that are not verified (contradicted
    first), and the verified claims grouped by source sentence (`lines`, in report order)."""
    claims = checks.get("claims", [])
    flagged = sorted(
        (c for c in claims if c["status"] != "verified"),
        key=lambda c: (c["status"] != "contradicted", c["start"]),
    )
    groups: dict[tuple[str, str], LineView] = {}
    seen: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for c in claims:
        if c["status"] != "verified":
            continue
        evidence = c.get("evidence") or []
        e: Mapping[str, object] = evidence[0] if evidence else {}
        key = (str(e.get("source", "")), str(e.get("quote", "")))
        group = groups.setdefault(key, {"source": key[0], "quote": key[1], "figures": [], "claims": 0})
        group["claims"] += 1
        formula = str(e.get("formula", "")) if e.get("basis") == "derived" else ""
        if (c["text"], formula) not in seen.setdefault(key, set()):
            seen[key].add((c["text"], formula))
            group["figures"].append({"text": c["text"], "formula": formula})
    return {
        "summary": {k: int(checks.get("summary", {}).get(k, 0)) for k in LABELS},
        "total": len(claims),
        "labels": LABELS,
        "flagged": _rows(flagged, body),
        "lines": list(groups.values()),
        "evidence_file": evidence_file,
    }


def _rows(flagged: list[ClaimJSON], body: str) -> list[FlaggedRow]:
    """One table row per claim that is not verified; the same figure in the same words with the same
    evidence (a sentence the report repeats) is one row that says how often (`count`)."""
    rows: dict[str, FlaggedRow] = {}
    for c in flagged:
        row: FlaggedRow = {
            "text": c["text"],
            "before": _before(body, c["start"]),
            "status": c["status"],
            "evidence": [
                {"source": e.get("source", ""), "quote": e.get("quote", ""),
                 "figure": _source_figure(e, c) if c["status"] == "contradicted" else ""}
                for e in c.get("evidence") or []
            ],
            "count": 0,
        }
        key = json.dumps({k: v for k, v in row.items() if k != "count"}, ensure_ascii=False, sort_keys=True)
        rows.setdefault(key, row)["count"] += 1
    return list(rows.values())


def _before(body: str, start: int) -> str:
    """The words of the report just before a claim, so that an editor can find it: its clause, or
    its sentence when the clause has no words, at most CONTEXT_CHARS characters ("…占比达到")."""
    if not 0 <= start <= len(body):
        return ""
    cut = max(0, start - CONTEXT_CHARS)
    for marks in (_CLAUSE_END, _SENTENCE_END):
        ends = list(marks.finditer(body, cut, start))
        lead = ends[-1].end() if ends else cut
        text = _MARKUP.sub("", re.sub(r"\s+", " ", body[lead:start])).lstrip()
        if len(text) >= 2:
            break
    return ("…" if lead == cut and cut > 0 and text else "") + text


def _source_figure(evidence: EvidenceJSON, claim: ClaimJSON) -> str:
    """The figure the source gives instead: a derived one's formula, else the quote's number as the
    source writes it (the evidence's value is normalized in the source's unit, which JSON does not
    carry), else the value in the claim's unit."""
    if evidence.get("basis") == "derived" and evidence.get("formula"):
        return str(evidence["formula"])
    from pipeline.facts.check import format_value
    from pipeline.facts.extract import extract_claims

    value = evidence.get("value")
    if not isinstance(value, int | float):
        return ""
    same = [q for q in extract_claims(str(evidence.get("quote", ""))) if abs(q.value - value) <= 1e-9 * max(1.0, abs(value))]
    if same:
        best = next((q for q in same if q.unit == claim.get("unit")), same[0])
        return best.text
    return format_value(value, None, claim.get("unit", ""))


def evidence_table(checks: CheckJSON) -> str:
    """Every claim with its evidence (the HTML page's `<details>` block)."""
    return render(EVIDENCE_TEMPLATE, checks=checks, labels=LABELS).strip("\n")
