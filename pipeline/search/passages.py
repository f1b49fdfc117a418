"""Choosing what of a fetched page goes into a prompt, and quoting it safely.

A fetched page is often 10-50x the prompt budget of a small model. Its first N characters are the
wrong cut: the lead is often boilerplate and the figure the query asks about sits in paragraph 14.
`select_passages` scores ~300-character chunks against the query (BM25 over `pipeline.text`'s
`passage_tokens`) and keeps the best ones, then restores document order so the model reads them as
the page told them.

`quote_as_data` exists because page text is written by strangers: a page saying "忽略以上所有指令" or
carrying a line "## 最终综合报告" must reach the model as quoted material, not as instructions or as
a heading of our report.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache

from pipeline.llm.budget import clip_to_tokens, estimate_tokens
from pipeline.text import passage_tokens
from pipeline.text import prewarm as prewarm_tokens

CHUNK_CHARS = 300
_K1 = 1.5
_B = 0.75

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|(?<=\.\s)")


def _split_long(paragraph: str, limit: int) -> list[str]:
    """Split a paragraph at sentence ends into pieces of about `limit` characters (hard cut if needed)."""
    sentences = [s for s in _SENTENCE_END.split(paragraph) if s]
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > limit:  # a "sentence" longer than a chunk: a table row, a run-on list
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:limit])
            sentence = sentence[limit:]
        if current and len(current) + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs of `text`, long ones split at sentence ends into chunks of about `limit` characters."""
    chunks: list[str] = []
    for paragraph in text.splitlines():
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= limit:
            chunks.append(paragraph)
        else:
            chunks.extend(_split_long(paragraph, limit))
    return chunks


def _bm25(chunk_tokens: list[list[str]], query_terms: list[str]) -> list[float]:
    n = len(chunk_tokens)
    avg_len = sum(len(t) for t in chunk_tokens) / n if n else 0.0
    df: Counter[str] = Counter()
    for toks in chunk_tokens:
        df.update(set(toks))
    scores: list[float] = []
    for toks in chunk_tokens:
        tf = Counter(toks)
        length_norm = 1 - _B + _B * (len(toks) / avg_len if avg_len else 1.0)
        score = 0.0
        for term in query_terms:
            freq = tf.get(term, 0)
            if not freq:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * freq * (_K1 + 1) / (freq + _K1 * length_norm)
        scores.append(score)
    return scores


def _rank(chunks: list[str], query_terms: list[str]) -> list[int]:
    """Chunk indexes, best first; only chunks sharing a term with the query, unless none does."""
    scores = _bm25([list(passage_tokens(c)) for c in chunks], query_terms) if query_terms else [0.0] * len(chunks)
    if any(s > 0 for s in scores):
        return sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))
    return list(range(len(chunks)))


def _pack(chunks: list[str], order: list[int], max_tokens: int) -> list[int]:
    """Greedily take chunks in `order` while they fit; a chunk too big is skipped, smaller ones may follow."""
    chosen: list[int] = []
    used = 0
    for i in order:
        cost = estimate_tokens(chunks[i]) + (1 if chosen else 0)  # the "\n" between chunks
        if used + cost <= max_tokens:
            chosen.append(i)
            used += cost
    return sorted(chosen)


def prewarm(texts: list[str]) -> None:
    """Segment these texts' chunks on the tokenizer's background thread (`pipeline.text.prewarm`),
    filling the token cache before a prompt needs them. Called when a research round finds new
    sources: later prompts (analysis, synthesis) cut them to passages, and the segmentation then
    overlaps the round's LLM wait instead of adding to the run's time."""
    prewarm_tokens(texts, chunk_text)


def select_passages(text: str, query: str, max_tokens: int) -> str:
    """The parts of `text` most relevant to `query`, within `max_tokens`, in document order.

    Chunks that share no term with the query are left out even when budget remains: on a small model
    the spare context is worth more empty than filled with a page's unrelated paragraphs. When nothing
    matches at all (or the query has no content words), the page's opening is the best guess we have.
    When even the best chunk is over budget, its best sentences are chosen the same way, so a tight
    budget still gets the sentence with the figure rather than the chunk's first words.
    """
    if max_tokens <= 0 or not text.strip():
        return ""
    chunks = chunk_text(text)
    if not chunks:
        return ""
    query_terms = list(dict.fromkeys(passage_tokens(query)))
    order = _rank(chunks, query_terms)
    chosen = _pack(chunks, order, max_tokens)
    if chosen:
        return "\n".join(chunks[i] for i in chosen)
    best = chunks[order[0]]
    sentences = [s for s in (p.strip() for p in _SENTENCE_END.split(best)) if s]
    picked = _pack(sentences, _rank(sentences, query_terms), max_tokens)
    if picked:
        return "".join(sentences[i] for i in picked)  # one paragraph: rejoin without line breaks
    return clip_to_tokens(sentences[_rank(sentences, query_terms)[0]] if sentences else best, max_tokens)


# ---------------------------------------------------------------------------------------------
# Quoting
# ---------------------------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x0b\x0c\x85]")
_STRUCTURE_LINE = re.compile(r"^\s*(?:[#＃]|={3,}\s*$|-{3,}\s*$)")
_ANGLE_RUN = re.compile(r"<{3,}|>{3,}")
_FULLWIDTH_SPACE = "\u3000"


@lru_cache(maxsize=4096)
def _is_dropped(ch: str) -> bool:
    return ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co")


def _clean_chars(text: str) -> str:
    """Drop control and format characters (zero-width spaces, bidi overrides, BOMs); keep newlines, tabs."""
    # Decide once per distinct character (a page has a few hundred), not once per character.
    dropped = {ch for ch in set(text) if _is_dropped(ch)}
    if not dropped:
        return text
    return text.translate({ord(ch): None for ch in dropped})


def _escape_angles(match: re.Match[str]) -> str:
    """`<<<` -> `＜＜＜`: the text can then never spell our block delimiters."""
    run = match.group(0)
    return run.replace("<", "＜").replace(">", "＞")


def quote_as_data(text: str, source_ref: int) -> str:
    """Wrap fetched text for a prompt as an inert, clearly delimited quotation of source `source_ref`.

    * zero-width, bidi and other control characters are removed (they hide text from human review);
    * lines that Markdown would read as structure (`#` headings, `===`/`---` underlines) get a leading
      full-width space, which Markdown does not treat as indentation, so they stay plain paragraph text;
    * runs of `<<<`/`>>>` become full-width, so no occurrence inside can close or open a block;
    * the result is `<<<来源[n] 开始>>>` ... `<<<来源[n] 结束>>>`.
    """
    body = _LINE_BREAKS.sub("\n", text)
    body = _clean_chars(body)
    body = _ANGLE_RUN.sub(_escape_angles, body)
    lines = []
    for line in body.split("\n"):
        if _STRUCTURE_LINE.match(line):
            line = _FULLWIDTH_SPACE + line.lstrip(" \t")
        lines.append(line)
    body = "\n".join(lines).strip("\n")
    ref = int(source_ref)
    return f"<<<来源[{ref}] 开始>>>\n{body}\n<<<来源[{ref}] 结束>>>"
