"""What the research summary is written from: the key sentences of a round's sources, picked by code.

Why: handed whole articles, a small instruct model describes them ("本文首先介绍了…接着分析了…") or
narrates the search ("第一轮检索中，主要讨论了…"), and does so again when told not to; handed the sources'
key sentences, each under its source number, it restates their facts and figures. A large model loses
little: the sentences are the ones a summary should state (on the sub-topic, figures first, no
near-duplicates, every source heard), and the analysis slots still read the sources' passages.

Code also writes the citation a model leaves off (`cite`): a summary sentence that states a figure of
exactly one source, or is mostly the words of one source's sentence, gets that source's [n]. Citation
numbers are code's job; the model's [n] is kept where it gave a valid one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.llm.budget import estimate_tokens
from pipeline.llm.extractive_rank import Cand, Terms, document_sentences, jaccard, mmr, sentence_facts
from pipeline.models import Doc
from pipeline.text import citations, strip_citations, tokens

EVIDENCE_SENTENCES = 16  # a summary paragraph's worth of statements per round
EVIDENCE_TOKENS = 1600  # at most this much of the prompt (less when num_ctx is small)
FIGURE_BONUS = 0.5  # a sentence with a figure outranks a merely relevant one: a summary states figures
CITE_SIMILARITY = 0.3  # token Jaccard at which a summary sentence is read as restating a source sentence

# A sentence: up to its end marks and the closing quotes or brackets after them, then its citations.
_PIECE = re.compile(r"[^。！？!?\n]*[。！？!?]*[”’」』）)》]*(?:\s*\[\d{1,3}\])*\n*")


@dataclass(frozen=True)
class Evidence:
    """One source sentence offered to the summary, verbatim, with its source's number."""

    ref: int
    text: str
    position: int


def key_sentences(docs: Sequence[Doc], topic: str, subtopic: str, budget: int, avoid: str = "") -> list[Evidence]:
    """Up to `EVIDENCE_SENTENCES` sentences of `docs` within `budget` tokens, in source order: relevant to
    the sub-topic (sentences without a topic word are left out unless a source has no other), figures
    first, near-duplicates and sentences the summary `avoid` already states skipped, each source heard."""
    terms = Terms.build([topic], [subtopic])
    pool: list[Cand] = []
    for d in docs:
        sents = document_sentences(d.text)
        gated = [s for s in sents if terms.hits(s)] or list(sents)
        for s in gated:
            relevance = terms.relevance(s)
            figure = FIGURE_BONUS if s.has_digit and sentence_facts(s.text) else 0.0
            # a small lead for the start of an article, where its own summary usually is
            lead = 0.1 / (1 + s.pos)
            pool.append(Cand(sent=s, ref=d.ref, centrality=0.0, relevance=relevance, score=relevance + figure + lead))
    if not pool:
        return []
    per_ref = max(2, -(-EVIDENCE_SENTENCES // max(1, len(docs))) + 2)
    said = [frozenset(tokens(p)) for p in _PIECE.findall(strip_citations(avoid)) if p.strip()]
    picked = mmr(pool, EVIDENCE_SENTENCES, avoid=said, per_ref=per_ref)
    # Each source's best sentence is placed first, so a tight budget still hears every source.
    firsts = [next(c for c in picked if c.ref == ref) for ref in dict.fromkeys(c.ref for c in picked)]
    order = firsts + [c for c in picked if not any(c is f for f in firsts)]
    kept: list[Cand] = []
    used = 0
    for c in order:  # best first: what does not fit the budget is the least important
        cost = estimate_tokens(c.sent.text) + 4
        if used + cost > budget:
            continue
        kept.append(c)
        used += cost
    return [Evidence(ref=c.ref, text=c.sent.text, position=c.sent.pos) for c in sorted(kept, key=lambda c: c.place)]


def evidence_block(items: Sequence[Evidence], docs: Sequence[Doc]) -> str:
    """The sentences as quoted data, grouped under each source's number and title like `documents_block`."""
    from pipeline.kinds.prompting import quote

    titles = {d.ref: d.title for d in docs}
    parts = []
    for ref in sorted({e.ref for e in items}):
        lines = "\n".join(f"- {e.text}" for e in items if e.ref == ref)
        parts.append(f"[{ref}] {titles.get(ref, '')}".rstrip() + "\n" + quote(lines, ref))
    return "\n\n".join(parts) if parts else "（无）"


def _figures(text: str) -> frozenset[tuple[str, float, float | None]]:
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


def cite(text: str, items: Sequence[Evidence]) -> tuple[str, int, int]:
    """`text` with a citation added to each sentence that has none and clearly restates one source
    (`source_of`), placed after the sentence's end mark and closing quote as the report writes them, and
    a sentence's citations replaced when its figures clearly come from another source than it names;
    with how many were added and how many replaced."""
    out: list[str] = []
    added = replaced = 0
    for piece in sentence_pieces(text):
        ref = source_of(piece, items) if items else None
        cited = citations(piece)
        if ref is None or ref in cited:
            out.append(piece)
            continue
        tail = piece[len(piece.rstrip()):]
        body = strip_citations(piece.rstrip()).rstrip() if cited else piece.rstrip()
        if cited and not _figures(piece):
            out.append(piece)  # words alone are not enough to overrule the model's own citation
            continue
        out.append(f"{body}[{ref}]{tail}")
        added += not cited
        replaced += bool(cited)
    return "".join(out), added, replaced
