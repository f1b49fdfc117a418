"""`yanbao diff OLD.md NEW.md`: which numbers changed between two reports, and which sources.

Numbers are the claims of `pipeline.facts.extract`, taken from the report body (not from the 数据核验
appendix, which repeats them, nor from header fields and reference lines). A claim of the old report
is matched to one of the new report by what it is about, in two passes:

1. the same sentence with its numbers, citation markers and ⚠ marks masked, and the same position
   among that sentence's numbers ("RPO达到#，同比增长#" → the first #, the second #);
2. otherwise the referent words around the number (`pipeline.facts.referents`): same unit class, no
   conflicting year or quarter, and enough shared clause and sentence words.

A matched pair with another value is *changed*; unmatched old claims are *removed*, unmatched new ones
*added*. Sources are the URLs of the reports' source and reference lists, compared by URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

if TYPE_CHECKING:  # annotations only: the extractor is imported where numbers are read, as before
    from pipeline.facts.extract import Claim

MAX_BYTES = 20 * 1024 * 1024
MIN_SCORE = 0.45
CONTEXT_CHARS = 28

_CITE = re.compile(r"\[\d{1,3}\]|⚠")
_URL = re.compile(r"(?:https?|file)://[^\s<>\"'()\[\]，。；、）（「」|]+", re.IGNORECASE)
_APPENDIX = re.compile(r"^##[ \t]+数据核验[ \t]*$", re.M)
_NEXT_H2 = re.compile(r"^##[ \t]+\S", re.M)


class DiffError(Exception):
    """A report cannot be read (exit 2). One line naming the file."""


class NumberJSON(TypedDict):
    text: str
    value: float
    value_hi: float | None
    unit: str
    normalized: str
    context: str


class ChangeJSON(TypedDict):
    old: NumberJSON
    new: NumberJSON
    context: str


class SourceJSON(TypedDict):
    url: str
    title: str


class NumbersJSON(TypedDict):
    changed: list[ChangeJSON]
    added: list[NumberJSON]
    removed: list[NumberJSON]
    unchanged: int


class SourcesJSON(TypedDict):
    added: list[SourceJSON]
    dropped: list[SourceJSON]
    kept: int


class DiffJSON(TypedDict):
    """`yanbao diff --json`: the reports compared (`diff_files`), their numbers and sources."""

    old: NotRequired[str]
    new: NotRequired[str]
    numbers: NumbersJSON
    sources: SourcesJSON
    summary: dict[str, int]


@dataclass
class _Num:
    text: str
    value: float
    value_hi: float | None
    unit: str
    unit_class: str
    key: tuple[str, int]  # masked sentence, position among its numbers
    near: frozenset[str]
    terms: frozenset[str]
    times: frozenset[str]
    context: str

    def same_value(self, other: _Num) -> bool:
        def eq(a: float | None, b: float | None) -> bool:
            if a is None or b is None:
                return a is b
            return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)

        return self.unit_class == other.unit_class and eq(self.value, other.value) and eq(self.value_hi, other.value_hi)

    def as_json(self) -> NumberJSON:
        from pipeline.facts.check import format_value

        return {
            "text": self.text,
            "value": self.value,
            "value_hi": self.value_hi,
            "unit": self.unit,
            "normalized": format_value(self.value, self.value_hi, self.unit),
            "context": self.context,
        }


# -- reading ---------------------------------------------------------------------------------------


def read_report(path: Path) -> str:
    from pipeline.documents import DocumentError, decode_bytes
    from pipeline.run.publish import strip_front_matter

    p = Path(path)
    try:
        if not p.exists():
            raise DiffError(f"{p}: no such file")
        if p.is_dir():
            raise DiffError(f"{p}: is a folder, not a report")
        if p.stat().st_size > MAX_BYTES:
            raise DiffError(f"{p}: larger than {MAX_BYTES // (1024 * 1024)} MB; not a report")
        data = p.read_bytes()
    except OSError as exc:
        raise DiffError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        text, _ = decode_bytes(data, str(p))
    except DocumentError as exc:
        raise DiffError(f"{exc} (give two markdown reports)") from None
    return strip_front_matter(text.replace("\r\n", "\n"))


def split_appendix(text: str) -> tuple[str, str]:
    """(body, 数据核验 appendix): the appendix runs from its heading to the next `## ` heading."""
    m = _APPENDIX.search(text)
    if not m:
        return text, ""
    nxt = _NEXT_H2.search(text, m.end())
    end = nxt.start() if nxt else len(text)
    return text[: m.start()] + text[end:], text[m.start() : end]


# -- numbers ---------------------------------------------------------------------------------------


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def numbers_of(text: str) -> list[_Num]:
    """The body's numeric claims with their match keys and a readable context."""
    from pipeline.facts.extract import extract_claims, unit_class
    from pipeline.facts.referents import TextReferents
    from pipeline.run.verify import unchecked_spans

    body, _ = split_appendix(text)
    skip = unchecked_spans(body)
    claims = [c for c in extract_claims(body) if not any(a <= c.start < b for a, b in skip)]
    refs = TextReferents(body)
    by_sentence: dict[tuple[int, int], list[Claim]] = {}
    for c in claims:
        by_sentence.setdefault(refs.sentence_span(c.start, c.end), []).append(c)
    out: list[_Num] = []
    for (s, e), group in by_sentence.items():
        parts, pos = [], s
        for c in group:
            parts.append(body[pos : c.start])
            parts.append("#")
            pos = c.end
        parts.append(body[pos:e])
        masked = _squash(_CITE.sub("", "".join(parts)))
        for i, c in enumerate(group):
            r = refs.referent(c.start, c.end)
            out.append(_Num(
                text=c.text, value=c.value, value_hi=c.value_hi, unit=c.unit, unit_class=unit_class(c.unit),
                key=(masked, i), near=r.near, terms=r.terms, times=r.times,
                context=_context(body, s, e, c.start, c.end),
            ))
    return out


def _context(body: str, s: int, e: int, start: int, end: int) -> str:
    a = max(s, start - CONTEXT_CHARS)
    b = min(e, end + CONTEXT_CHARS)
    left = _CITE.sub("", body[a:start])
    right = _CITE.sub("", body[end:b])
    snippet = " ".join(f"{left}〔{body[start:end]}〕{right}".split())
    snippet = re.sub(r"^[\s*#>|-]+", "", snippet).strip()
    return ("…" if a > s else "") + snippet + ("…" if b < e else "")


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _score(a: _Num, b: _Num) -> float:
    from pipeline.facts.referents import times_conflict

    if a.unit_class != b.unit_class or times_conflict(a.times, b.times) or not (a.near & b.near):
        return 0.0
    return 0.6 * _jaccard(a.near, b.near) + 0.4 * _jaccard(a.terms, b.terms)


def match_numbers(old: list[_Num], new: list[_Num]) -> tuple[list[tuple[_Num, _Num]], list[_Num], list[_Num]]:
    """(pairs, removed, added), by sentence key first, then by referent similarity."""
    pairs: list[tuple[_Num, _Num]] = []
    pool: dict[tuple[str, int], list[int]] = {}
    for j, n in enumerate(new):
        pool.setdefault(n.key, []).append(j)
    used_new: set[int] = set()
    rest_old: list[int] = []
    for i, o in enumerate(old):
        cands = pool.get(o.key)
        if cands:
            j = cands.pop(0)
            used_new.add(j)
            pairs.append((o, new[j]))
        else:
            rest_old.append(i)
    rest_new = [j for j in range(len(new)) if j not in used_new]

    scored = []
    for i in rest_old:
        for j in rest_new:
            sc = _score(old[i], new[j])
            if sc >= MIN_SCORE:
                # prefer the same value (a number that moved), then the better context, then order
                scored.append((-sc - (0.05 if old[i].same_value(new[j]) else 0.0), abs(i - j), i, j))
    scored.sort()
    taken_old: set[int] = set()
    taken_new: set[int] = set()
    for _neg, _dist, i, j in scored:
        if i in taken_old or j in taken_new:
            continue
        taken_old.add(i)
        taken_new.add(j)
        pairs.append((old[i], new[j]))
    removed = [old[i] for i in rest_old if i not in taken_old]
    added = [new[j] for j in rest_new if j not in taken_new]
    return pairs, removed, added


# -- sources ---------------------------------------------------------------------------------------


def _norm_url(url: str) -> str:
    url = url.rstrip(".,;:!?。，；：）)")
    m = re.match(r"^([a-z]+://)([^/]*)(.*)$", url, re.IGNORECASE)
    if m:
        url = m.group(1).lower() + m.group(2).lower() + m.group(3)
    return url.rstrip("/")


def sources_of(text: str) -> dict[str, str]:
    """URL → title of every source the report lists (body only, in order of first appearance)."""
    body, _ = split_appendix(text)
    found: dict[str, str] = {}
    for line in body.splitlines():
        for m in _URL.finditer(line):
            url = m.group(0).rstrip(".,;:!?。，；：）)")
            key = _norm_url(url)
            if key in found:
                continue
            found[key] = _title_before(line, m.start(), url)
    return found


def _title_before(line: str, pos: int, url: str) -> str:
    link = re.search(r"\[([^\]]+)\]\(\s*" + re.escape(url), line)
    if link:
        title = link.group(1)
    else:
        title = line[:pos]
    title = re.sub(r"^\s*(?:[*+-]|\d{1,3}[.、)])\s*", "", title)
    title = re.sub(r"[\s:：(（\[]+$", "", title)
    title = re.sub(r"\\(.)", r"\1", title).replace("**", "").strip()
    return title


# -- the diff --------------------------------------------------------------------------------------


def diff_texts(old_text: str, new_text: str) -> DiffJSON:
    old_nums, new_nums = numbers_of(old_text), numbers_of(new_text)
    pairs, removed, added = match_numbers(old_nums, new_nums)
    changed: list[ChangeJSON] = [
        {"old": o.as_json(), "new": n.as_json(), "context": n.context}
        for o, n in pairs
        if not o.same_value(n)
    ]
    unchanged = sum(1 for o, n in pairs if o.same_value(n))
    old_src, new_src = sources_of(old_text), sources_of(new_text)
    src_added: list[SourceJSON] = [{"url": u, "title": new_src[u]} for u in new_src if u not in old_src]
    src_dropped: list[SourceJSON] = [{"url": u, "title": old_src[u]} for u in old_src if u not in new_src]
    return {
        "numbers": {
            "changed": changed,
            "added": [n.as_json() for n in added],
            "removed": [o.as_json() for o in removed],
            "unchanged": unchanged,
        },
        "sources": {
            "added": src_added,
            "dropped": src_dropped,
            "kept": sum(1 for u in new_src if u in old_src),
        },
        "summary": {
            "numbers_changed": len(changed),
            "numbers_added": len(added),
            "numbers_removed": len(removed),
            "numbers_unchanged": unchanged,
            "sources_added": len(src_added),
            "sources_dropped": len(src_dropped),
        },
    }


def diff_files(old: Path, new: Path) -> DiffJSON:
    old_text = read_report(old)
    new_text = read_report(new)
    return {"old": str(old), "new": str(new), **diff_texts(old_text, new_text)}


def format_text(result: DiffJSON) -> str:
    """The readable form: one line per change, with the words around the number."""
    nums, srcs, s = result["numbers"], result["sources"], result["summary"]
    lines = [f"{result.get('old', 'OLD')} → {result.get('new', 'NEW')}", ""]
    lines.append(
        f"数值 numbers: {s['numbers_changed']} changed, {s['numbers_added']} added, "
        f"{s['numbers_removed']} removed, {s['numbers_unchanged']} unchanged"
    )
    for c in nums["changed"]:
        lines.append(f"  ~ {c['old']['text']} → {c['new']['text']}    {c['context']}")
    for n in nums["added"]:
        lines.append(f"  + {n['text']}    {n['context']}")
    for o in nums["removed"]:
        lines.append(f"  - {o['text']}    {o['context']}")
    lines.append("")
    lines.append(f"来源 sources: {s['sources_added']} added, {s['sources_dropped']} dropped, {srcs['kept']} kept")
    for src in srcs["added"]:
        lines.append(f"  + {src['title'] or '(untitled)'}  {src['url']}")
    for src in srcs["dropped"]:
        lines.append(f"  - {src['title'] or '(untitled)'}  {src['url']}")
    return "\n".join(lines) + "\n"
