"""What the research summary is written from: the key sentences of a round's sources, picked by code.

Why: handed whole articles, a small instruct model describes them ("本文首先介绍了…接着分析了…") or
narrates the search ("第一轮检索中，主要讨论了…"), and does so again when told not to; handed the sources'
key sentences, each under its source number, it restates their facts and figures. A large model loses
little: the sentences are the ones a summary should state (on the sub-topic, figures first, no
near-duplicates, every source heard), and the analysis slots still read the sources' passages.

The citations the model leaves off or gets wrong are code's (`pipeline.kinds.citations.cite`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.kinds.citations import Evidence, sentence_pieces
from pipeline.llm.budget import estimate_tokens
from pipeline.llm.extractive_rank import Cand, Terms, document_sentences, mmr, sentence_facts
from pipeline.models import Doc
from pipeline.text import strip_citations, tokens

EVIDENCE_SENTENCES = 16  # a summary paragraph's worth of statements per round
EVIDENCE_TOKENS = 1600  # at most this much of the prompt (less when num_ctx is small)
FIGURE_BONUS = 0.5  # a sentence with a figure outranks a merely relevant one: a summary states figures


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
            figure = FIGURE_BONUS if sentence_facts(s.text) else 0.0  # 约四成 is a figure without a digit
            # a small lead for the start of an article, where its own summary usually is
            lead = 0.1 / (1 + s.pos)
            pool.append(Cand(sent=s, ref=d.ref, centrality=0.0, relevance=relevance, score=relevance + figure + lead))
    if not pool:
        return []
    per_ref = max(2, -(-EVIDENCE_SENTENCES // max(1, len(docs))) + 2)
    said = [frozenset(tokens(p)) for p in sentence_pieces(strip_citations(avoid)) if p.strip()]
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
