"""The one tokenizer of yanbao: word segmentation, stop words and the token functions every room uses.

Why one module: search (the local index), passage selection, coverage, the extractive engine and the
facts check all turn Chinese text into terms. When each did it its own way there were four stop-word
lists and three jieba set-ups; a word dropped in one place and kept in another made the rooms disagree
about what a text is about. Here:

* **Segmentation** is jieba, set up once (`segmenter`): lazily, since loading its dictionary costs
  ~0.7 s that `yanbao --help` and `yanbao check` must not pay; under a lock, since several report
  threads (and the scheduler's jobs) ask for it at once. No other module imports jieba (a test holds
  that).
* **Stop words** are one base list (`STOP_WORDS`). A purpose that needs more names its extra set here,
  with the reason: `SEARCH_STOP_WORDS`, `PASSAGE_STOP_WORDS`, `KEYWORD_STOP_WORDS`,
  `REFERENT_STOP_WORDS`.
* **Token functions**, one per purpose: `tokens` (search and the extractive engine), `passage_tokens`
  (BM25 inside one page), `topic_words` (coverage's weighted topic units), `TermScanner` (the facts
  check's dictionary-free terms), with `word_idf` and `word_tag` from jieba's dictionary, and
  `prewarm`, the one background thread that cuts sources before a prompt needs them.

What each list and function changed when they were brought together is measured before and after in
`bench/results/tokenizer.txt`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # jieba is imported at run time only inside `segmenter`; the thread pool on first use
    from concurrent.futures import Future, ThreadPoolExecutor

    from jieba import Tokenizer

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])\s*|\n+")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)
_TOKEN_OK = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)

# ---------------------------------------------------------------------------------------------
# Stop words
# ---------------------------------------------------------------------------------------------

#: The base list, for every purpose: function words (Chinese and English), the verbs and adverbs
#: of reporting (表示, 认为, 目前, 此外), the framing of a report (研究, 分析, 报告), and the pieces of a
#: figure or a date (年, 亿, 美元, %): a figure is matched by its number, not by its unit.
STOP_WORDS = frozenset(
    """
    的 了 和 是 在 与 及 或 等 也 就 都 而 且 但 并 又 被 把 对 从 向 到 由 于 以 之 其 这 那 该 此 为 中 上 下
    将 个 们 所 我 你 他 她 它 我们 你们 他们 它们 自己 一个 一些 这个 那个 这些 那些 没有 不是 可以 已经
    因为 所以 如果 虽然 但是 以及 还是 或者 而且 并且 通过 进行 对于 关于 根据 由于 随着 其中 以上 以下 之一
    什么 如何 怎么 为什么 哪些 是否 有 没 不 会 能 要 让 给 着 过 吗 呢 吧 啊 后 前 时
    称 据 表示 认为 指出 目前 此外 同时 今年 去年 方面 情况 问题 包括 主要 相关 研究 分析 报告
    年 月 日 亿 万 元 美元 % 一 二 三
    the a an and or of to in on for with by at from as is are was were be been it its this that these
    those what which who how why when where do does did not no but if then than so such can will
    """.split()
)

#: What `tokens` drops: the base list and the subject of the embedded corpus (人工智能, AI), which every
#: document of `sources/` carries, so it ranks nothing there; a task about AI still finds its sentences
#: through the extractive engine's aliases (`pipeline.llm.extractive_rank.ALIASES`).
SEARCH_STOP_WORDS = STOP_WORDS | {"人工智能", "ai"}

#: What `passage_tokens` drops inside one fetched page: the base list and web boilerplate (点击, 阅读).
PASSAGE_STOP_WORDS = STOP_WORDS | {"点击", "阅读", "更多"}

#: Words that may match (they are tokens) but never name a sub-topic, a knowledge gap or a group of the
#: extractive engine, whatever their dictionary rarity says: generic nouns and verbs of business
#: writing (公司, 市场, 增长), hedges and time words. A different thing from a stop word: 市场 is a
#: useful search term and a useless heading.
KEYWORD_STOP_WORDS = frozenset(
    """成为 一家 这种 这一 不少 很多 越来越 能够 不断 一种 时候 提供 实现 使用 开始 继续 出现 明年 未来 全球
    已经 可能 需要 目前 不过 因此 然而 以来 之后 之前 当前 如今 今后 数据显示 显示 表明 发现 达到 增长 同比
    预计 有望 或将 可能会 来说 而言 方面 领域 行业 市场 公司 企业 产品 服务 能力 水平 规模 发展 趋势 影响
    重要 更多 进一步 持续 整体 部分 其他 不同 主要 核心 关键 相应 有关 相关 以上 以下 左右 约 近 超过
    亿美元 万亿 百分点 季度 年度 全年 上半年 下半年 第一 第二 第三 之一 一方面 另一方面""".split()
)

#: The facts check's separators (`TermScanner`): no bigram is made across one, none is a term. The base
#: list's words of two characters or more, and an extra set: report boilerplate — verbs of saying and
#: of change, hedges, generic nouns, currency and scale words, pieces of written numbers — that is never
#: evidence that two sentences speak of the same thing. A different thing from `STOP_WORDS`: the facts
#: check cuts text into character bigrams, not words, and these are the bigrams that must not count as a
#: shared term; many are content words for search (增长, 公司, 数据). The base list's single characters
#: are left to `FUNCTION_CHARS`: as separators too (年, 亿, 有, 不 …) they lowered the facts check's
#: figures (bench/facts_quality.py, test half: one-digit changes marked 存在出入 90.0 % → 87.5 %).
REFERENT_STOP_WORDS = frozenset(w for w in STOP_WORDS if len(w) > 1 and _CJK.search(w)) | frozenset(
    """
    公司 企业 集团 厂商 机构 领域 方面 部分 整体 总体 全球 中国 美国 全国 我国 本行 该行 贡献 带动 拉动
    增长 增加 提升 提高 上升 上涨 下降 下滑 减少 降低 回落 扩大 缩小 实现 完成 带来 成为 保持 继续 进行 达到
    预计 预期 预测 估计 计划 宣布 表示 显示 认为 指出 据称 根据 报道 消息 报告 数据 资料 统计 来源 信息 披露
    公布 发布 推出 透露 获得 拥有 需要 使用 采用 提供 支持 通过 进入 开始 发现 出现 形成 取得 录得 创下 同期
    截至 截止 同时 包括 包含 其中 主要 相关 情况 问题 影响 作用 重要 关键 核心 最新 首次 目前 当前 现在 未来
    近期 此前 随后 期间 今年 去年 明年 上年 当年 本年 全年 年度 季度 财年 半年 上半 下半 年内 年底 年初 年末
    美元 人民 民币 欧元 港元 日元 亿元 万元 千亿 百亿 十亿 万亿 亿美 万美 百分 分点 个百 数量 总额 金额
    水平 比例 占比 大约 约为 左右 以上 以下 接近 超过 不到 至少 高达 多达 相比 相较 对比 分别 合计 总计 共计
    一步 进一 一个 一些 这些 那些 这个 那个 之一 之后 之前 以来 以后 可能 能够 已经 正在 仍然 非常 比较 其他
    我们 他们 它们 因此 所以 因为 如果 虽然 不过 此外 然而 并且 而且 或者 以及 由于 对于 关于 其余 分析 研究
    高出 升至 降至 增至 增幅 降幅 增速 涨幅 跌幅 提至 累计 仅为 大增 同期 上一 一年 合计 约占 占到 只有 仅有
    这一 数字 如今 已经 后者 前者 上半年 下半年 全年度 进一步 年第 年前
    公斤 千克 平方 方米 每股 每吨 每公 元左 元降 元以
    """.split()
)

#: Single characters that make a bigram function-word noise ("的营", "收为"): separators of `TermScanner`.
FUNCTION_CHARS = frozenset("的了和与及或在是为也都而但就将被把对从向到至由以于其这那之等各每该此并又约近超逾达占较比")

# ---------------------------------------------------------------------------------------------
# jieba: the one set-up
# ---------------------------------------------------------------------------------------------

_jieba_lock = threading.Lock()
_segmenter: Tokenizer | None = None


def segmenter() -> Tokenizer:
    """jieba's tokenizer, dictionary loaded: on first use, once per process, whichever thread asks first
    (the others wait on the lock rather than build a second copy). Its loading messages are silenced:
    jieba prints them at INFO on every first use.

    No domain words are added: giving jieba the facts room's company names (英伟达, 台积电, 摩尔线程 …,
    22 of them cut apart by its dictionary) was measured and lowered the figures (bench/report_quality.py:
    sentences naming the subject 53.9 % → 51.7 %, and two degraded slots in bench/extractive.py's run;
    bench/retrieval.py: passages at 60 tokens 80 → 79 of 147). Search mode already matches such a name
    by its pieces, and `topic_words` glues them back."""
    global _segmenter
    if _segmenter is None:
        with _jieba_lock:
            if _segmenter is None:
                import logging

                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _segmenter = jieba.dt
    return _segmenter


def warm_up() -> None:
    """Load the dictionary now (the scheduler and the worker call it before several reports start, so
    one thread pays for it while the others wait, instead of each finding it cold)."""
    segmenter()


def cut(text: str) -> list[str]:
    """jieba's precise mode: each character in exactly one word (人工智能 stays whole)."""
    return list(segmenter().lcut(text))


def cut_for_search(text: str) -> list[str]:
    """jieba's search mode: precise-mode words plus the dictionary words inside the long ones
    (数据中心 → 数据, 中心, 数据中心), so a query for a part finds the whole."""
    return list(segmenter().lcut_for_search(text))


@lru_cache(maxsize=65536)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(segmenter().lcut_for_search(text))


@lru_cache(maxsize=65536)
def word_idf(word: str) -> float:
    """Background rarity of a word in [0, 1], from the frequencies of jieba's own dictionary (already loaded,
    so a free general-language corpus): 公司 ≈ 0.4, 数据中心 ≈ 0.8, words jieba does not know (H200) 1.0.
    Ranking keywords by it keeps generic words from naming sub-topics and groups."""
    dt = segmenter()
    total = float(dt.total or 1)
    freq = dt.FREQ.get(word) or 0
    return math.log(total / (freq + 1.0)) / math.log(total + 1.0)


_pos_lock = threading.Lock()
_pos_table: dict[str, str] | None = None


def word_tag(word: str) -> str | None:
    """jieba's dictionary part-of-speech tag of a word (n, vn, v, t ...), None for words it does not know.
    Lets keyword pickers keep nouns (数据中心, 出口管制) and drop verbs and time words (已有, 加快, 正在).
    The tag table (~0.5 s, ~50 MB) is loaded on first use only."""
    global _pos_table
    if _pos_table is None:
        with _pos_lock:
            if _pos_table is None:
                segmenter()
                import jieba.posseg

                _pos_table = jieba.posseg.dt.word_tag_tab  # type: ignore[attr-defined]  # built by jieba.posseg; the stubs omit it
    return _pos_table.get(word)


# ---------------------------------------------------------------------------------------------
# Token functions
# ---------------------------------------------------------------------------------------------

#: Raise when `tokens` changes in a way its stop words do not show (its filter, the jieba set-up).
TOKENS_REVISION = "2"


def tokens_id() -> str:
    """Changes whenever what `tokens` returns may change: stored tokens (the local search index) are
    rebuilt when theirs differs, so a query and the text it is matched against are cut alike."""
    import hashlib

    words = "\n".join(sorted(SEARCH_STOP_WORDS))
    return hashlib.sha256(f"{TOKENS_REVISION}\t{words}".encode()).hexdigest()[:12]



def tokens(text: str) -> list[str]:
    """Content tokens for search and the extractive engine: jieba search-mode words, lower-cased, without
    stop words, punctuation, lone digits or lone Latin letters."""
    out = []
    for tok in _cut(text):
        t = tok.strip().lower()
        if not t or t in SEARCH_STOP_WORDS or not _WORD.search(t) or t.isdigit():
            continue
        if len(t) == 1 and _CJK.match(t) is None:
            continue
        out.append(t)
    return out


@lru_cache(maxsize=32768)
def passage_tokens(text: str) -> tuple[str, ...]:
    """Tokens for ranking the chunks of one page (`pipeline.search.passages`): jieba search-mode words,
    lower-cased, without punctuation, blanks and `PASSAGE_STOP_WORDS`. Cached: the same sources are cut
    for every slot of a worker and every synthesis slot."""
    out: list[str] = []
    for tok in segmenter().lcut_for_search(text):
        tok = tok.strip().lower()
        if not tok or tok in PASSAGE_STOP_WORDS or not _TOKEN_OK.search(tok):
            continue
        out.append(tok)
    return tuple(out)


# A lone character that ends a word (智能+体, 台积+电, 上市+潮) is glued to the word before it.
_SUFFIX_CHARS = frozenset("体电潮商化性者业端侧链网厂股价量率器机车药险税市圈卡芯料品费额款案法局部署院所会")
_YEAR_OR_NUMBER = re.compile(r"^\d+(?:\.\d+)?[年月日号%]?$")


def topic_words(text: str) -> list[str]:
    """The words of a topic or a clause (`pipeline.coverage`, the extractive engine's referents):
    precise-mode words, stop words and punctuation dropped, lone characters glued to a neighbour,
    because jieba cuts short unknown names apart (英/伟达, 台积/电, 猫/粮); no figures, no repeats."""
    raw = [w.strip().lower() for w in cut(text)]
    raw = [w for w in raw if w and re.search(r"[\w\u3400-\u9fff]", w)]
    keep = [w not in STOP_WORDS and not (len(w) == 1 and not _CJK.match(w)) for w in raw]
    out: list[str] = []
    glued: list[bool] = []  # whether out[i] absorbed a lone character
    i = 0
    while i < len(raw):
        w = raw[i]
        if not keep[i]:
            i += 1
            continue
        if len(w) == 1 and _CJK.match(w):
            # a run of lone characters (中/美, 猫/粮) is one word
            j = i
            while j + 1 < len(raw) and keep[j + 1] and len(raw[j + 1]) == 1 and _CJK.match(raw[j + 1]):
                j += 1
            if j > i:
                out.append("".join(raw[i : j + 1]))
                glued.append(True)
                i = j + 1
                continue
            prev_ok = bool(out) and i > 0 and keep[i - 1] and _CJK.search(raw[i - 1]) is not None
            next_ok = i + 1 < len(raw) and keep[i + 1] and _CJK.match(raw[i + 1]) is not None
            if prev_ok and (w in _SUFFIX_CHARS or not next_ok):
                out[-1] += w
                glued[-1] = True
            elif next_ok:
                out.append(w + raw[i + 1])
                glued.append(True)
                i += 1
            else:
                out.append(w)
                glued.append(False)
            i += 1
            continue
        out.append(w)
        glued.append(False)
        i += 1
    return [w for w in dict.fromkeys(out) if not _YEAR_OR_NUMBER.match(w)]


_warmer: ThreadPoolExecutor | None = None
_warmer_lock = threading.Lock()


def prewarm(texts: Iterable[str], pieces: Callable[[str], Iterable[str]]) -> list[Future[None]]:
    """Cut these texts' `pieces` into `passage_tokens` on one background thread, filling the cache before
    a prompt needs them: a research round finds new sources, later prompts (analysis, synthesis) cut
    them to passages, and the segmentation then overlaps the round's LLM wait instead of adding to the
    run's time. One thread for the process, made on first use; callers need not wait on the futures
    (a prompt that comes first just cuts the text itself)."""
    global _warmer
    if _warmer is None:
        with _warmer_lock:
            if _warmer is None:
                from concurrent.futures import ThreadPoolExecutor

                _warmer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yanbao-prewarm")

    def work(text: str) -> None:
        for piece in pieces(text):
            passage_tokens(piece)

    return [_warmer.submit(work, text) for text in texts if text]


# ---------------------------------------------------------------------------------------------
# Dictionary-free terms (the facts check)
# ---------------------------------------------------------------------------------------------


_Trie = dict[str, "_Trie"]  # one level per character; "" marks the end of a word


def trie_regex(words: Iterable[str]) -> str:
    """A regular expression matching any of `words`, longest first, built as a trie ("营(?:收|业收入)")
    rather than a flat alternation: the engine then tries one branch per character, not hundreds."""
    trie: _Trie = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


Term = tuple[str, int, int]


class TermScanner:
    """(term, start, end) of a sentence without a word dictionary: lexicon words (folded to one
    spelling), ASCII words (through `fold`), and character bigrams of the rest of the Chinese text.

    Why not jieba: the facts check must load in milliseconds (a whole `yanbao check` costs less than
    jieba's dictionary), and a paraphrase that cuts words differently still shares most of its
    bigrams with the source. One scan with one regular expression: lexicon words, ASCII words and
    separators (`separators`, a regular expression; `REFERENT_STOP_WORDS` and `FUNCTION_CHARS` are
    always separators, as is any run of characters that is neither Chinese nor Latin) are matched,
    and the Chinese text between them gives its bigrams, except the pairs `skip_pair` refuses. A stop
    word is a separator, so no bigram straddles one ("全年公司实现" gives neither 年公 nor 司实)."""

    def __init__(
        self,
        lexicon: Mapping[str, str],
        fold: Callable[[str], str | None],
        separators: str = "",
        skip_pair: Callable[[str, str], bool] = lambda a, b: False,
    ) -> None:
        self.lexicon = dict(lexicon)
        self.fold = fold
        self.separators = separators
        self.skip_pair = skip_pair
        self.pattern = re.compile(
            f"(?P<lex>{trie_regex(self.lexicon)})"
            r"|(?P<ascii>[A-Za-z][A-Za-z0-9&+.\-]*[A-Za-z0-9+]|[A-Za-z])"
            f"|(?P<sep>{separators + '|' if separators else ''}{trie_regex(REFERENT_STOP_WORDS)}"
            f"|[{''.join(sorted(FUNCTION_CHARS))}]|[^\u3400-\u9fffA-Za-z]+)",
            re.I,
        )

    def terms(self, sentence: str) -> tuple[Term, ...]:
        out: list[Term] = []
        pos = 0
        for m in self.pattern.finditer(sentence):
            if m.start() > pos:
                self._bigrams(sentence[pos : m.start()], pos, out)
            pos = m.end()
            kind = m.lastgroup
            if kind == "lex":
                out.append((self.lexicon[m.group(0).lower()], m.start(), pos))
            elif kind == "ascii":
                term = self.fold(m.group(0))
                if term is not None:
                    out.append((term, m.start(), pos))
        if pos < len(sentence):
            self._bigrams(sentence[pos:], pos, out)
        return tuple(out)

    def _bigrams(self, run: str, base: int, out: list[Term]) -> None:
        """Bigrams of a run of Chinese characters that holds no separator."""
        for i in range(len(run) - 1):
            a, b = run[i], run[i + 1]
            if not self.skip_pair(a, b):
                out.append((a + b, base + i, base + i + 2))


# ---------------------------------------------------------------------------------------------
# Sentences and citations
# ---------------------------------------------------------------------------------------------


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


def cjk_ratio(text: str) -> float:
    """Share of CJK characters among the letters of `text` (digits and punctuation do not count)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _CJK.match(ch)) / len(letters)


def strip_citations(text: str) -> str:
    """The text without its citation marks ([3])."""
    return _CITATION.sub("", text)


def citations(text: str) -> list[int]:
    """The citation numbers of a text, in order."""
    return [int(m) for m in _CITATION.findall(text)]
