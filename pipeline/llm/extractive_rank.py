"""Ranking machinery of the extractive engine: source sentences, TextRank, relevance, MMR, keywords.

Kept apart from `extractive.py` (which maps stage slots onto these tools) so that the numeric parts can be
tested and timed on their own. Everything here is plain Python and deterministic: every sort carries a full
tie-break (score, then doc ref, then position, then text), and nothing iterates over a set to produce output,
so two runs give byte-identical results whatever PYTHONHASHSEED is.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain

from pipeline.text import (
    KEYWORD_STOP_WORDS,
    cjk_ratio,
    split_sentences,
    strip_citations,
    tokens,
    topic_words,
    word_idf,
    word_tag,
)

# Closing marks that `split_sentences` leaves at the start of the next piece ("……。”下一句").
_CLOSERS = "”’」』）)】》〉"
# A sentence we quote must end like a sentence: questions are not findings, and pieces without an end mark
# are headings, captions or list fragments.
_ENDS = "。！!；;"
_PAIRS = (("“", "”"), ("（", "）"), ("(", ")"), ("《", "》"), ("「", "」"), ("【", "】"))
_MARKUP = re.compile(r"https?://|www\.|!\[|\]\(|[|#@*<>`]")
_BRACKET_NUM = re.compile(r"\[\d{1,3}\]")
_SRC_MARKER = re.compile(r"\[\[src:[^\]]*\]\]")
# Openers that point back to a sentence the reader will not see: such sentences still qualify, a little lower.
_WEAK_START = re.compile(
    r"^(?:这|该|此|其|他|她|它|但|而|因此|所以|不过|然而|同时|此外|另外|对此|对于此|那么|到\s*20\d\d年\d{1,2}月)"
)
# Openers that leave the reader asking "which?", "after what?", "second of what?": connectives (然而, 因此, 此外),
# pronoun subjects (这些数据说明…, 该公司, 其中), list ordinals (第三，… 其次) and relative dates (同月, 随后). Such a
# sentence is quoted only together with the sentence before it, never alone.
DANGLING = re.compile(
    r"^(?:这|那|该|此|其|上述|前述|以上|他|她|它|但|而|并且|并非|且|也|却|还有|因此|因而|所以|于是|由此|为此|对此|"
    r"不过|然而|同时|与此同时|此外|另外|另一方面|相比之下|相较之下|反之|换言之|也就是说|总之|综上|首先|其次|再次|"
    r"最后|第[一二三四五六七八九十]+(?:[，,、：:]|是|点|条|个方面)|[一二三四五六七八九十]是|随后|此后|之后|同月|同年|"
    r"同日|当月|当年|当日|次月|次年|届时|尽管如此|即便如此|即使如此|可见|显然|不仅如此|更重要的是|与之相比|相反)"
)
MAX_PAIR_CHARS = 240
_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[a-z]")
_CJK = re.compile(r"[\u3400-\u9fff]")

MIN_CHARS = 12
MAX_CHARS = 200

# Words too generic to name a sub-topic, a knowledge gap or a group, whatever their dictionary rarity says.
GENERIC = KEYWORD_STOP_WORDS


# ---------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One quotable sentence of a document, with what ranking needs precomputed once per document."""

    text: str  # verbatim from the document
    norm: str  # identity for the "never twice" rule
    pos: int  # index among the document's pieces
    tokens: frozenset[str]
    token_list: tuple[str, ...]  # whole words only (see `whole_words`): what keywords are counted from
    has_digit: bool
    weak_start: bool
    # The source sentences it quotes: itself, or a dangling sentence with the one before it (see `DANGLING`).
    keys: tuple[str, ...] = ()

    @property
    def low(self) -> str:
        return self.text.lower()

    @property
    def ids(self) -> tuple[str, ...]:
        return self.keys or (self.norm,)


def norm_key(sentence: str) -> str:
    """Identity of a sentence: no whitespace, no trailing end marks or closers. A sentence emitted with its
    `；` turned into `。`, or read back from a summary, maps to the same key as in its source."""
    s = re.sub(r"\s+", "", sentence)
    return s.rstrip(_ENDS + "？?" + _CLOSERS + "…")


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, sentence) of a text: `split_sentences` per line, except that a clause ending in `；`
    stays with the rest of its sentence ("营收为441亿美元，同比增长69%；第二季度营收为467亿美元…。" is one
    sentence: its second clause alone has lost its subject). Closing quotes and brackets go back to the
    sentence they close."""
    out: list[tuple[int, str]] = []
    for n, line in enumerate(text.split("\n")):
        chunks = split_sentences(line)
        merged: list[str] = []
        for c in chunks:
            if merged and merged[-1].endswith(("；", ";")):
                a = line.find(merged[-1])
                b = line.find(c, a + len(merged[-1])) if a >= 0 else -1
                gap = line[a + len(merged[-1]) : b] if b >= 0 else "x"
                if not gap.strip():  # adjacent in the source: join with what stood between them
                    merged[-1] = merged[-1] + gap + c
                    continue
            merged.append(c)
        for p in merged:
            lead = len(p) - len(p.lstrip(_CLOSERS))
            if lead and out and out[-1][0] == n:
                out[-1] = (n, out[-1][1] + p[:lead])
                p = p[lead:].strip()
            if p:
                out.append((n, p))
    return out


def pieces(text: str) -> list[str]:
    """The sentences of a text (see `_lines`): what the engine quotes, and what it reads back from summaries."""
    return [p for _, p in _lines(text)]


def _balanced(s: str) -> bool:
    return all(s.count(a) == s.count(b) for a, b in _PAIRS) and s.count('"') % 2 == 0


def quotable(piece: str, source: str) -> str | None:
    """The piece as a sentence we may quote, or None. Leading markdown emphasis is dropped (the remainder is
    still a verbatim substring); anything else that looks like markup, a fragment, a question or an
    unbalanced quote is refused rather than repaired, because repairing would change the source's words."""
    s = piece.lstrip("*>_ \t").strip()
    if not (MIN_CHARS <= len(s) <= MAX_CHARS) or _MARKUP.search(s):
        return None
    if s[0] in "，、：；,.:;）)”’" or s.rstrip(_CLOSERS)[-1:] not in _ENDS:
        return None
    if not _balanced(s) or cjk_ratio(s) < 0.5 or s not in source or _BRACKET_NUM.search(s):
        return None  # a "[3]" of the source's own would read as one of our citations
    return s


def dangling(sentence: str) -> bool:
    return DANGLING.match(sentence.lstrip("*>_ \t")) is not None


def _sent(s: str, pos: int, keys: tuple[str, ...] = ()) -> Sent | None:
    toks = tokens(s)
    if len(set(toks)) < 3:
        return None
    return Sent(
        text=s,
        norm=norm_key(s),
        pos=pos,
        tokens=frozenset(toks),
        token_list=whole_words(toks),
        has_digit=bool(_DIGIT.search(s)),
        weak_start=bool(_WEAK_START.match(s)),
        keys=keys,
    )


def document_sentences(text: str) -> tuple[Sent, ...]:
    """All quotable sentences of a document, in order. Callers cache the result per document text.

    A sentence opening with a dangling connective (`DANGLING`) is offered only joined to the sentence
    before it on the same line ("第一，…。第二，…。"), as one candidate that uses up both."""
    out: list[Sent] = []
    lines = _lines(text)
    quoted = [quotable(p, text) for _, p in lines]
    for pos, ((line, _), s) in enumerate(zip(lines, quoted, strict=True)):
        if s is None:
            continue
        if not dangling(s):
            sent = _sent(s, pos)
        else:
            prev = quoted[pos - 1] if pos > 0 and lines[pos - 1][0] == line else None
            if prev is None or dangling(prev) or prev.endswith(("；", ";")):
                continue
            a = text.find(prev)
            b = text.find(s, a + len(prev)) if a >= 0 else -1
            if b < 0 or text[a + len(prev) : b].strip():
                continue
            both = text[a : b + len(s)]
            if len(both) > MAX_PAIR_CHARS:
                continue
            sent = _sent(both, pos, keys=(norm_key(prev), norm_key(s)))
        if sent is not None:
            out.append(sent)
    return tuple(out)


def whole_words(toks: Sequence[str]) -> tuple[str, ...]:
    """Drop the sub-words jieba's search mode adds inside longer words (业内人士 -> 业内/内人/人士, 服务器 ->
    务器): good for matching, but they would surface as nonsense keywords (内人, 务器)."""
    uniq = set(toks)
    return tuple(t for t in toks if not any(t != u and t in u for u in uniq))


def sentence_keys(text: str) -> list[str]:
    """Keys of the sentences inside text the engine wrote earlier (a summary, a note, a bullet)."""
    clean = strip_citations(_SRC_MARKER.sub("", text))
    return [k for k in (norm_key(p) for p in pieces(clean)) if k]


def emit(sent: Sent, ref: int) -> str:
    """A sentence as written into a slot: verbatim, then its citation. A clause that ended in `；` gets `。`
    so a bullet or a summary does not stop mid-sentence; every word and number stays as in the source."""
    s = sent.text
    if s[-1] in "；;":
        s = s[:-1] + "。"
    return f"{s}[{ref}]"


# ---------------------------------------------------------------------------------------------
# Terms, relevance, cues
# ---------------------------------------------------------------------------------------------


# Parts of speech that can name a topic: nouns (not person names or one-character morphemes), verbal nouns
# (监管, 训练), set phrases and abbreviations. Words jieba does not know (算力, H200) are allowed too.
_EDGE = frozenset("亿万年月日将的了是在和与等个把被也就都而或及其该这那为于以从向到由")
_NOUNISH = ("n", "nz", "nt", "ns", "nl", "vn", "an", "l", "j", "eng")


def is_keyword(word: str) -> bool:
    """Could this token name a topic? Two characters at least, not a number or a unit, not generic, and a
    noun-like word: verbs and time words (已有, 加快, 正在) make poor sub-topic and group names."""
    if len(word) < 2 or word in GENERIC or word.isdigit() or "%" in word:
        return False
    if _DIGIT.search(word) and not _HAS_LETTER.search(word):
        return False  # "2024年", "35亿" are figures, not topics; "h200" is a product
    if not (_CJK.search(word) or _HAS_LETTER.search(word)) or word[0].isdigit():
        return False  # "30gw" is a quantity
    tag = word_tag(word)
    if tag is None and _CJK.match(word) and (word[0] in _EDGE or word[-1] in _EDGE):
        return False  # an unknown word glued to a function character: 亿人 (5.15亿人), 体将 (智能体将)
    return tag is None or tag in _NOUNISH


def overlaps(a: str, b: str) -> bool:
    """jieba's search mode yields both 数据中心 and 数据/中心: treat nested words as the same word."""
    return a in b or b in a


@dataclass
class Terms:
    """The words a task is about. `gate` decides eligibility (at least one must occur in a sentence);
    `weights` grade relevance, with the sub-topic's own words counting double so workers stay apart."""

    gate: tuple[str, ...]
    weights: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, broad: Iterable[str], focus: Iterable[str] = ()) -> Terms:
        broad = list(broad)
        focus = list(focus)
        broad_toks = _terms_of(broad) + _aliases([*broad, *focus])
        focus_toks = [t for t in _terms_of(focus) if t not in broad_toks]
        weights: dict[str, float] = {}
        for t in broad_toks:
            weights[t] = word_idf(t)
        for t in focus_toks:
            weights[t] = 2.0 * word_idf(t)
        return cls(gate=tuple(sorted(weights)), weights=weights)

    @property
    def key(self) -> tuple[str, ...]:
        return self.gate

    def hits(self, sent: Sent) -> list[str]:
        """Gate terms present in the sentence: as a token, or (two characters or more) as a substring, since
        jieba may cut the same word differently in a longer context. Latin terms match whole words only
        ("ai" in "AI芯片", not in "training")."""
        low = sent.low
        out = []
        for t in self.gate:
            if t in sent.tokens:
                out.append(t)
            elif len(t) >= 2 and t in low and (_ASCII.fullmatch(t) is None or _latin_word(t).search(low)):
                out.append(t)
        return out

    def relevance(self, sent: Sent) -> float:
        total = sum(self.weights[t] for t in self.gate)
        if total <= 0:
            return 0.0
        return sum(self.weights[t] for t in self.hits(sent)) / total


# The stop-word list drops 人工智能 and AI (they are everywhere in this project's corpus, useless for search
# ranking), yet a topic about AI must still find sentences that say "AI" or "人工智能". Each group is a set of
# interchangeable names; any member in the task's words brings in all of them.
ALIASES: tuple[tuple[str, ...], ...] = (("人工智能", "ai"), ("大模型", "大语言模型", "llm"), ("生成式人工智能", "aigc"))
_ASCII = re.compile(r"[a-z0-9.+-]+")


@lru_cache(maxsize=256)
def _latin_word(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z]){re.escape(term)}(?![a-z])")


def _aliases(texts: Iterable[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        low = text.lower()
        for group in ALIASES:
            present = any(
                re.search(rf"(?<![a-z]){re.escape(a)}(?![a-z])", low) if _ASCII.fullmatch(a) else a in low
                for a in group
            )
            if present:
                out.extend(a for a in group if a not in out)
    return out


def _terms_of(texts: Iterable[str]) -> list[str]:
    """Content tokens of the texts; when stop words swallow everything (a topic like "AI"), the raw words."""
    out: list[str] = []
    for text in texts:
        toks = tokens(text)
        if not toks:
            toks = [w.lower() for w in re.findall(r"[A-Za-z0-9]+|[\u3400-\u9fff]+", text)]
        for t in toks:
            if t not in out:
                out.append(t)
    return out


def cue_hits(text: str, cues: Sequence[str], patterns: Sequence[re.Pattern[str]] = ()) -> int:
    """How many distinct cue words (substrings) and cue patterns a sentence carries."""
    return sum(1 for c in cues if c in text) + sum(1 for p in patterns if p.search(text))


# ---------------------------------------------------------------------------------------------
# TextRank
# ---------------------------------------------------------------------------------------------


def textrank(
    token_sets: Sequence[frozenset[str]],
    damping: float = 0.85,
    iterations: int = 40,
    neighbours: int = 12,
) -> list[float]:
    """Centrality of each sentence in the sentence-similarity graph, scaled to [0, 1].

    Similarity is the classic TextRank overlap |A∩B| / (log|A| + log|B|). Pairs are found through an inverted
    index, skipping tokens present in over 40 % of sentences (they link everything and inform nothing), and
    each node keeps only its strongest `neighbours` edges: this keeps a run's 1,000+ sentences to a sparse
    graph that a few dozen power iterations settle in milliseconds, where the dense graph would take seconds.
    """
    n = len(token_sets)
    if n == 0:
        return []
    if n == 1:
        return [1.0]
    index: dict[str, list[int]] = defaultdict(list)
    for i, ts in enumerate(token_sets):
        for t in ts:
            index[t].append(i)  # ascending i whatever the set order
    max_df = max(2, int(0.4 * n))
    logs = [math.log(len(ts) + 1.0) for ts in token_sets]
    keep: list[dict[int, float]] = [{} for _ in range(n)]
    for a, ts in enumerate(token_sets):
        # Overlap counts of `a` with every sentence sharing a token, counted in C by Counter.
        overlap = Counter(chain.from_iterable(index[t] for t in ts if 1 < len(index[t]) <= max_df))
        overlap.pop(a, None)
        if not overlap:
            continue
        # Sparsify: keep each node's strongest links (the graph is made symmetric again below).
        best = heapq.nsmallest(neighbours, ((-ov / (logs[a] + logs[b]), b) for b, ov in overlap.items()))
        for negw, b in best:
            w = round(-negw, 12)
            keep[a][b] = w
            keep[b][a] = w
    adj = [sorted(keep[a].items()) for a in range(n)]
    out_w = [sum(w for _, w in row) for row in adj]
    score = [1.0 / n] * n
    base = (1.0 - damping) / n
    for _ in range(iterations):
        new = [base] * n
        for a in range(n):
            if out_w[a] <= 0:
                continue
            share = damping * score[a] / out_w[a]
            for b, w in adj[a]:
                new[b] += share * w
        delta = sum(abs(x - y) for x, y in zip(new, score, strict=True))
        score = new
        if delta < 1e-9:
            break
    top = max(score)
    return [round(s / top, 9) if top > 0 else 0.0 for s in score]


# ---------------------------------------------------------------------------------------------
# Candidates and MMR
# ---------------------------------------------------------------------------------------------


@dataclass
class Cand:
    """A sentence of one task's pool: where it comes from (`ref`) and how it ranks."""

    sent: Sent
    ref: int
    centrality: float
    relevance: float
    score: float = 0.0

    @property
    def order(self) -> tuple[float, int, int, str]:
        return (-round(self.score, 9), self.ref, self.sent.pos, self.sent.text)

    @property
    def place(self) -> tuple[int, int]:
        return (self.ref, self.sent.pos)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def max_similarity(cands: Sequence[Cand], avoid: Sequence[frozenset[str]]) -> dict[int, float]:
    """For each candidate (by id), its greatest Jaccard similarity to any of `avoid`."""
    return {id(c): max((jaccard(c.sent.tokens, t) for t in avoid), default=0.0) for c in cands}


def mmr(
    cands: Sequence[Cand],
    k: int,
    lam: float = 0.7,
    avoid: Sequence[frozenset[str]] = (),
    dup: float = 0.6,
    per_ref: int | None = None,
    initial: dict[int, float] | None = None,
) -> list[Cand]:
    """Maximal marginal relevance: best score first, then each next pick trades score against its likeness
    to what is already picked (and to `avoid`, e.g. sentences already in the summary). Near-duplicates
    (Jaccard >= `dup`) are never picked: syndicated copies of one wire story must not fill a list.
    `per_ref` caps the picks per source; `initial` passes similarities to `avoid` computed once by the
    caller (see `max_similarity`). Each candidate's similarity is updated with the last pick only, so
    picking k of n costs O(k·n) comparisons."""
    pool = sorted(cands, key=lambda c: c.order)
    if initial is None:
        initial = max_similarity(pool, avoid)
    sim = [initial.get(id(c), 0.0) for c in pool]
    alive = [s < dup for s in sim]
    counts: dict[int, int] = {}
    chosen: list[Cand] = []
    while len(chosen) < k:
        best_i, best_v = -1, -math.inf
        for i, c in enumerate(pool):
            if not alive[i] or (per_ref is not None and counts.get(c.ref, 0) >= per_ref):
                continue
            v = round(lam * c.score - (1.0 - lam) * sim[i], 9)
            if v > best_v:
                best_i, best_v = i, v
        if best_i < 0:
            break
        pick = pool[best_i]
        alive[best_i] = False
        chosen.append(pick)
        counts[pick.ref] = counts.get(pick.ref, 0) + 1
        for i, c in enumerate(pool):
            if alive[i]:
                sim[i] = max(sim[i], jaccard(c.sent.tokens, pick.sent.tokens))
                if sim[i] >= dup:
                    alive[i] = False
    return chosen


# ---------------------------------------------------------------------------------------------
# Keywords
# ---------------------------------------------------------------------------------------------


def keyword_scores(units: Iterable[tuple[Hashable, Sequence[str]]], exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
    """Keywords of a set of texts, best first: frequency x spread over documents x dictionary rarity.

    `units` are (document key, tokens) pairs. Rarity comes from jieba's own dictionary frequencies, a free
    background corpus: 数据中心 outranks 公司 even when both occur as often. Words overlapping `exclude`
    (the topic) are left out, and of two nested words (数据 / 数据中心) only the better one is kept.
    """
    tf: Counter[str] = Counter()
    docs: dict[str, set[Hashable]] = defaultdict(set)
    for key, toks in units:
        for t in toks:
            if is_keyword(t):
                tf[t] += 1
                docs[t].add(key)
    excl = [e for e in exclude if e]
    scored = []
    for w, f in tf.items():
        if any(overlaps(w, e) for e in excl):
            continue
        scored.append((w, round((1.0 + math.log(f)) * (1.0 + math.log(len(docs[w]))) * word_idf(w), 9)))
    scored.sort(key=lambda ws: (-ws[1], ws[0]))
    kept: list[tuple[str, float]] = []
    for w, s in scored:
        if not any(overlaps(w, k) for k, _ in kept):
            kept.append((w, s))
    return kept


def cooccurrence(units: Sequence[frozenset[str]], a: str, b: str) -> float:
    """Cosine-style co-occurrence of two words over sentence token sets."""
    na = sum(1 for u in units if a in u)
    nb = sum(1 for u in units if b in u)
    if not na or not nb:
        return 0.0
    both = sum(1 for u in units if a in u and b in u)
    return both / math.sqrt(na * nb)


def display(word: str, texts: Iterable[str]) -> str:
    """A keyword as the sources spell it: tokens are lower-cased, titles should say GPU, not gpu."""
    if not _HAS_LETTER.search(word):
        return word
    pattern = re.compile(re.escape(word), re.IGNORECASE)
    for text in texts:
        m = pattern.search(text)
        if m:
            return m.group(0)
    return word


def label(words: Sequence[str], limit: int = 20) -> str:
    """A code-made title "kw1与kw2" (or just kw1), never longer than `limit` characters."""
    words = [w for w in words if w]
    if len(words) >= 2 and len(words[0]) + len(words[1]) + 1 <= limit:
        return f"{words[0]}与{words[1]}"
    return words[0][:limit] if words else ""


def group_title(members: Sequence[Cand], seed: str, exclude: Sequence[str]) -> str:
    """Title of a group: its seed keyword and the keyword its sentences share most besides it."""
    units = [(i, c.sent.token_list) for i, c in enumerate(members)]
    second = [
        w for w, _ in keyword_scores(units, exclude=[*exclude, seed]) if any(w in c.sent.tokens for c in members)
    ]
    share = sorted(second, key=lambda w: (-sum(1 for c in members if w in c.sent.tokens), second.index(w)))
    texts = [c.sent.text for c in members]
    return label([display(w, texts) for w in [seed, *share[:1]]])


def keyword_groups(
    pool: Sequence[Cand],
    groups: int,
    points: int,
    exclude: Sequence[str],
    min_points: int = 2,
) -> list[tuple[str, list[Cand]]]:
    """Cluster the best sentences of a pool under keyword heads, for 关键发现 and 详细分析.

    Keyword first: for each candidate keyword the sentences containing it form a potential group; the group
    whose best `points` sentences (by MMR) score highest is taken, its sentences leave the pool, and the next
    group is chosen among keywords that do not overlap earlier heads. This makes every title a word that
    really occurs in its bullets. When no keyword gathers `min_points` sentences, the best sentences form
    one group under the pool's top keywords, so a thin pool still yields a (small) valid slot.
    """
    remaining = sorted(pool, key=lambda c: c.order)
    units = [(c.ref, c.sent.token_list) for c in remaining]
    heads = [w for w, _ in keyword_scores(units, exclude=exclude)][:40]
    out: list[tuple[str, list[Cand]]] = []
    used_heads: list[str] = []
    avoid: list[frozenset[str]] = []
    for _ in range(groups):
        best: tuple[float, str, list[Cand]] | None = None
        pre = max_similarity(remaining, avoid)
        for w in heads:
            if any(overlaps(w, u) for u in used_heads):
                continue
            members = [c for c in remaining if w in c.sent.tokens]
            if len(members) < min_points:
                continue
            picked = mmr(members, points, initial=pre)
            if len(picked) < min_points:
                continue
            value = round(sum(c.score for c in picked), 9)
            if best is None or value > best[0]:
                best = (value, w, picked)
        if best is None:
            break
        _, w, picked = best
        used_heads.append(w)
        title = group_title(picked, w, [*exclude, *used_heads[:-1]])
        used_heads.extend(t.lower() for t in title.split("与") if t)
        out.append((title, sorted(picked, key=lambda c: c.order)))
        chosen = {id(c) for c in picked}
        remaining = [c for c in remaining if id(c) not in chosen]
        avoid.extend(c.sent.tokens for c in picked)
    if not out and remaining:
        picked = mmr(remaining, points)
        words = [w for w, _ in keyword_scores([(c.ref, c.sent.token_list) for c in picked], exclude=exclude)]
        texts = [c.sent.text for c in picked]
        out.append((label([display(w, texts) for w in words[:2]]) or "要点", sorted(picked, key=lambda c: c.order)))
    return out


# ---------------------------------------------------------------------------------------------
# Facts: a number and what it is about, so that one fact is stated once per report
# ---------------------------------------------------------------------------------------------

_CLAUSE_MARKS = "，,；;：:。！!？?"
_FACT_SKIP = frozenset(
    """同比 环比 增长 增加 下降 达到 约为 超过 其中 分别 之间 以上 以下 左右 相比 提高 提升 人工智能 ai 今年 去年
    明年 目前 已经 已 约 近 逾 共 总计 合计 累计""".split()
)

Fact = tuple[tuple[str, float, float | None], frozenset[str]]  # (unit class, value, upper value), referent words


def _referent_words(text: str) -> list[str]:
    """The words that say what a number is about: precise-mode words (人工智能 stays one word, so its
    pieces do not make two unrelated figures look alike), without figures, generic and framing words."""
    from pipeline.kinds.coverage import GENERIC as FRAMING

    return [w for w in topic_words(text) if len(w) >= 2 and w not in GENERIC and w not in FRAMING
            and w not in _FACT_SKIP and not (_DIGIT.search(w) and not _HAS_LETTER.search(w))]


@lru_cache(maxsize=16384)
def sentence_facts(text: str) -> tuple[Fact, ...]:
    """Each number of a sentence (`pipeline.facts.extract`) as (value key, referent words): the value with
    its unit class, and the specific words of the clause that holds it and of the clause before, which
    often names what the number is about ("…营收为467亿美元，同比增长56%" → 营收)."""
    from pipeline.facts.extract import extract_claims, unit_class

    text = strip_citations(text)
    out: list[Fact] = []
    for c in extract_claims(text):
        key = (unit_class(c.unit) or c.unit, round(c.value, 6), None if c.value_hi is None else round(c.value_hi, 6))
        a = max(text.rfind(m, 0, c.start) for m in _CLAUSE_MARKS) + 1
        ends = [i for i in (text.find(m, c.end) for m in _CLAUSE_MARKS) if i >= 0]
        b = min(ends) if ends else len(text)
        words = _referent_words(text[a:c.start] + "，" + text[c.end:b])
        if a > 0:  # the clause before often holds the subject ("斯坦福AI指数引用的调查显示，…78%的企业…")
            a2 = max(text.rfind(m, 0, a - 1) for m in _CLAUSE_MARKS) + 1
            words += _referent_words(text[a2 : a - 1])
        out.append((key, frozenset(words)))
    return tuple(out)


def same_fact(a: Fact, b: Fact) -> bool:
    """Same value and unit, and the referents share two words (or the one word a one-word referent has).
    Deliberately generous: two figures that merely look alike cost a sentence, a fact stated twice costs
    the reader's trust."""
    if a[0] != b[0] or not a[1] or not b[1]:
        return False
    return len(a[1] & b[1]) >= min(2, len(a[1]), len(b[1]))


def repeats(facts: Iterable[Fact], seen: Sequence[Fact]) -> bool:
    return any(same_fact(f, g) for f in facts for g in seen)
