"""Chinese text helpers shared by the local index, passage selection and the extractive engine.

jieba is imported lazily: loading its dictionary costs ~0.7 s, which `yanbao --help` must not pay.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])\s*|\n+")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)

STOPWORDS = frozenset(
    """的 了 和 是 在 与 及 对 为 把 被 也 就 都 而 或 等 以 于 上 中 下 将 其 该 这 那 一个 一些 这些 那些
    我们 他们 它们 你们 以及 并且 但是 因为 所以 如果 由于 通过 进行 可以 已经 没有 不是 还是 表示 认为 指出
    称 据 从 向 到 由 后 前 时 年 月 日 亿 万 元 美元 % 个 之 所 其中 此外 同时 目前 今年 去年 方面 情况 问题
    研究 分析 报告 相关 主要 包括 以及 一 二 三 人工智能 ai""".split()
)

_jieba_lock = threading.Lock()
_jieba = None


def _jieba_module():
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import logging

                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def split_sentences(text: str) -> list[str]:
    """Split Chinese (and mixed) text into sentences, keeping the end punctuation.

    Markdown list markers and heading hashes are stripped; fragments without any word character are
    dropped.
    """
    out: list[str] = []
    for piece in _SENTENCE_END.split(text):
        s = piece.strip()
        s = re.sub(r"^(?:#{1,6}\s+|[-*+]\s+|\d{1,2}[.、)]\s+)", "", s).strip()
        if s and _WORD.search(s):
            out.append(s)
    return out


@lru_cache(maxsize=65536)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(_jieba_module().lcut_for_search(text))


def tokens(text: str) -> list[str]:
    """Content tokens: jieba words, lower-cased, without stop words, punctuation or lone digits."""
    out = []
    for tok in _cut(text):
        t = tok.strip().lower()
        if not t or t in STOPWORDS or not _WORD.search(t) or t.isdigit():
            continue
        if len(t) == 1 and _CJK.match(t) is None:
            continue
        out.append(t)
    return out


def cjk_ratio(text: str) -> float:
    """Share of CJK characters among the letters of `text` (digits and punctuation do not count)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _CJK.match(ch)) / len(letters)


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text)


def citations(text: str) -> list[int]:
    return [int(m) for m in _CITATION.findall(text)]


@lru_cache(maxsize=65536)
def word_idf(word: str) -> float:
    """Background rarity of a word in [0, 1], from the frequencies of jieba's own dictionary (already loaded,
    so a free general-language corpus): 公司 ≈ 0.4, 数据中心 ≈ 0.8, words jieba does not know (H200) 1.0.
    Ranking keywords by it keeps generic words from naming sub-topics and groups."""
    import math

    dt = _jieba_module().dt
    total = float(dt.total or 1)
    freq = dt.FREQ.get(word) or 0
    return math.log(total / (freq + 1.0)) / math.log(total + 1.0)


_pos_lock = threading.Lock()
_pos_table: dict | None = None


def word_tag(word: str) -> str | None:
    """jieba's dictionary part-of-speech tag of a word (n, vn, v, t ...), None for words it does not know.
    Lets keyword pickers keep nouns (数据中心, 出口管制) and drop verbs and time words (已有, 加快, 正在).
    The tag table (~0.5 s, ~50 MB) is loaded on first use only."""
    global _pos_table
    if _pos_table is None:
        with _pos_lock:
            if _pos_table is None:
                _jieba_module()
                import jieba.posseg

                _pos_table = jieba.posseg.dt.word_tag_tab
    return _pos_table.get(word)
