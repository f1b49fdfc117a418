"""Citation numbers are code's business: the model writes [n] against the numbers it was shown;
code drops numbers that point nowhere and maps worker-local numbers to the report's global ones.

A model also writes citation marks that are not `[n]`: a group (`[1,3]`, `[1、3]`, `[1-2]`,
full-width `［2］`), and, when its reply is cut at the token limit, a mark left open (`…增长[19`).
Groups are split into single marks; an open or empty mark is removed, so no broken `[n` reaches a
report (where the facts check would take `19` for a number of the text).

A model also leaves citations off, or names the wrong source: a small instruct model wrote whole
analysis sections of the sources' figures without one [n]. `cite` writes the number of the one source
that holds every figure a sentence states, and corrects a citation that names another; a figure no
source holds gets none (the facts check reports it). Every slot answer goes through `cited`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from pydantic import BaseModel

from pipeline.models import LABEL_FIELDS, Doc, SearchResult, WorkerResult
from pipeline.text import citations, strip_citations, tokens

M = TypeVar("M", bound=BaseModel)
_REF = re.compile(r"\[(\d{1,3})\]")
_FULL_WIDTH = str.maketrans("［］０１２３４５６７８９，", "[]0123456789,")
_GROUP = re.compile(r"\[\s*(\d{1,3}(?:\s*[,，、;；]\s*\d{1,3})+)\s*\]")
_RANGE = re.compile(r"\[\s*(\d{1,3})\s*[-–—~～]\s*(\d{1,3})\s*\]")
_PADDED = re.compile(r"\[\s+(\d{1,3})\s*\]|\[(\d{1,3})\s+\]")
#: An opening bracket with digits that no `]` closes (`[19` where a reply was cut), or a last bare `[`
_OPEN = re.compile(r"\[\s*\d{1,4}(?![\d\s]*\])|\[\s*$")
_EMPTY = re.compile(r"\[\s*\]")


def clean_marks(text: str) -> str:
    """Citation marks as `[n]` only: groups and ranges split (`[1,3]` → `[1][3]`, `[2-4]` → `[2][3][4]`),
    full-width brackets and digits inside marks made ASCII, and open or empty marks removed. Text in
    brackets that is not a citation (`[注]`, `[A]`) is left alone."""
    if "[" not in text and "［" not in text:
        return text
    text = re.sub(r"［[\s０-９0-9，,、\-–]*］?", lambda m: m.group(0).translate(_FULL_WIDTH), text)
    text = _GROUP.sub(lambda m: "".join(f"[{n}]" for n in re.findall(r"\d{1,3}", m.group(1))), text)

    def expand(m: re.Match[str]) -> str:
        a, b = int(m.group(1)), int(m.group(2))
        return "".join(f"[{n}]" for n in range(a, b + 1)) if 0 < b - a < 10 else f"[{a}][{b}]"

    text = _RANGE.sub(expand, text)
    text = _PADDED.sub(lambda m: f"[{m.group(1) or m.group(2)}]", text)
    text = _EMPTY.sub("", text)
    return _OPEN.sub("", text)


def keep_valid(text: str, valid: set[int]) -> tuple[str, int]:
    """Remove citation markers whose number is not in `valid`, after `clean_marks`. Returns (text, how
    many were removed)."""
    dropped = 0
    text = clean_marks(text)

    def sub(m: re.Match[str]) -> str:
        nonlocal dropped
        if int(m.group(1)) in valid:
            return m[0]
        dropped += 1
        return ""

    return _REF.sub(sub, text), dropped


def renumber(text: str, mapping: dict[int, int]) -> str:
    """Rewrite [local] as [global]; numbers missing from the mapping are removed."""
    return _REF.sub(lambda m: f"[{mapping[int(m.group(1))]}]" if int(m.group(1)) in mapping else "", text)


def map_strings(model: M, fn: Callable[[str], str], skip: frozenset[str] = frozenset()) -> M:
    """Apply `fn` to every string inside a slot model (recursively), returning a new model; strings
    under a key in `skip` are left as they are."""

    def walk(value: object) -> object:
        if isinstance(value, str):
            return fn(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: v if k in skip else walk(v) for k, v in value.items()}
        return value

    return type(model).model_validate(walk(model.model_dump()))


def number_sources(workers: list[WorkerResult]) -> tuple[list[SearchResult], list[dict[int, int]]]:
    """Global reference list in order of first use (workers in index order: deterministic even when
    workers ran concurrently), and per worker the map from its local numbers to the global ones."""
    refs: list[SearchResult] = []
    index: dict[str, int] = {}
    maps: list[dict[int, int]] = []
    for w in sorted(workers, key=lambda w: w.index):
        mapping: dict[int, int] = {}
        for local, src in enumerate(w.sources, start=1):
            if src.id not in index:
                refs.append(src)
                index[src.id] = len(refs)
            mapping[local] = index[src.id]
        maps.append(mapping)
    return refs, maps


# ---------------------------------------------------------------------------------------------
# Citations written by code
# ---------------------------------------------------------------------------------------------

CITE_SIMILARITY = 0.3  # token Jaccard at which a sentence is read as restating a source sentence
# A sentence: up to its end marks and the closing quotes or brackets after them, then its citations.
_PIECE = re.compile(r"[^。！？!?\n]*[。！？!?]*[”’」』）)》]*(?:\s*\[\d{1,3}\])*\n*")


@dataclass(frozen=True)
class Evidence:
    """One source sentence, verbatim, with its source's number (and its place in the source)."""

    ref: int
    text: str
    position: int


@lru_cache(maxsize=256)
def _figure_sentences(ref: int, text: str) -> tuple[Evidence, ...]:
    from pipeline.llm.extractive_rank import document_sentences

    return tuple(Evidence(ref, s.text, s.pos) for s in document_sentences(text) if _figures(s.text))


def figure_sentences(docs: Sequence[Doc]) -> list[Evidence]:
    """Every sentence of the sources that states a figure: what `cite` looks a slot's figures up in."""
    return [e for d in docs for e in _figure_sentences(d.ref, d.text)]


def cited(docs: Sequence[Doc]) -> Callable[[M], M]:
    """What every slot answer goes through: citations to no source removed, then each sentence stating
    figures that one source alone holds cited to it (`cite`, figures only). Titles and names
    (`LABEL_FIELDS`) name things; they get no citation."""
    valid = {d.ref for d in docs}
    items = figure_sentences(docs)

    def post(value: M) -> M:
        value = map_strings(value, lambda s: keep_valid(s, valid)[0])
        return map_strings(value, lambda s: cite(s, items, figures_only=True)[0], skip=LABEL_FIELDS)

    return post


def _figures(text: str) -> frozenset[tuple[str, float, float | None]]:
    from pipeline.llm.extractive_rank import sentence_facts

    return frozenset(f[0] for f in sentence_facts(text))


def source_of(sentence: str, items: Sequence[Evidence]) -> int | None:
    """The one source a summary sentence restates, or None when it is not clear which. A sentence with
    figures: the only source that holds every one of them (a figure no source holds gets no citation:
    the facts check will say so). A sentence without: the only source of the most similar sentence,
    when that one is similar enough."""
    figures = _figures(sentence)
    if figures:
        holders = [{e.ref for e in items if f in _figures(e.text)} for f in figures]
        common = set.intersection(*holders)
        return common.pop() if len(common) == 1 else None
    from pipeline.llm.extractive_rank import jaccard
    words = frozenset(tokens(strip_citations(sentence)))
    scored = sorted(((jaccard(words, frozenset(tokens(e.text))), e.ref) for e in items), reverse=True)
    if not scored or scored[0][0] < CITE_SIMILARITY:
        return None
    best = scored[0][0]
    refs = {ref for s, ref in scored if s == best}
    return refs.pop() if len(refs) == 1 else None


def sentence_pieces(text: str) -> list[str]:
    """The sentences of `text`, each with the closing quote and the citations that follow its end mark
    ("…增长54%。”[1]") and the line breaks after it; joined, they give `text` back."""
    return [p for p in _PIECE.findall(text) if p]


def cite(text: str, items: Sequence[Evidence], figures_only: bool = False) -> tuple[str, int, int]:
    """`text` with a citation added to each sentence that has none and clearly restates one source
    (`source_of`), placed after the sentence's end mark and closing quote as the report writes them, and
    a sentence's citations replaced when its figures clearly come from another source than it names;
    with how many were added and how many replaced. `figures_only`: sentences without a figure are
    left as they are (a slot's bullet is no restatement of one source sentence).

    Sentences run up to the next citation as one unit ("甲。乙。[1]": the [1] may cover both, as the
    extractive engine writes a sentence with the one it needs before it): a sentence of the unit
    whose source is among the unit's citations is left alone."""
    pieces = sentence_pieces(text)
    unit_refs: list[list[int]] = []
    pending: list[int] = []
    for i, piece in enumerate(pieces):
        pending.append(i)
        if citations(piece) or piece.endswith("\n") or i == len(pieces) - 1:
            refs = citations(piece)
            unit_refs.extend([refs] * len(pending))
            pending = []
    out: list[str] = []
    added = replaced = 0
    for piece, covering in zip(pieces, unit_refs, strict=True):
        ref = source_of(piece, items) if items and (not figures_only or _figures(piece)) else None
        given = citations(piece)
        if ref is None or ref in covering or (given and not _figures(piece)):
            out.append(piece)  # words alone are not enough to overrule the model's own citation
            continue
        tail = piece[len(piece.rstrip()):]
        body = strip_citations(piece.rstrip()).rstrip() if given else piece.rstrip()
        out.append(f"{body}[{ref}]{tail}")
        added += not given
        replaced += bool(given)
    return "".join(out), added, replaced
