"""What a number is *about*: the entity and metric words around it.

A figure only verifies when the source sentence talks about the same thing ("甲骨文 … RPO …
4550亿美元"), so every claim and every stored fact carries two sets of referent terms:

* `near`: content words of the clause that holds the number (usually the metric, often the entity);
* `terms`: content words of the whole sentence (adds the entity of a sentence whose later clauses
  carry the numbers).

Terms are jieba tokens (HMM off: faster, and unknown-word guesses add noise here) minus stop words
and generic report vocabulary (公司, 增长, 市场 …) that would make unrelated sentences look alike.
Company names and common metrics are folded to one spelling (Oracle → 甲骨文, 营业收入 → 营收), so a
report may restate a figure in other words and still verify.

Some terms are *names* (`is_named`): listed companies, ASCII product names (Blackwell, H100), and
words jieba's dictionary does not know (mostly proper nouns). A shared name is what tells "the same
entity and metric" from "the same metric words", which matters most before marking a figure ⚠.

Times matter too: "2024年营收" and "2025年营收" are different facts, so a year or quarter mentioned
on both sides that does not agree blocks a match.
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass
from functools import lru_cache

#: One spelling per entity or metric; keys are lower case. Extend freely: it only ever merges words.
ALIASES: dict[str, str] = {
    "oracle": "甲骨文",
    "nvidia": "英伟达",
    "nvda": "英伟达",
    "辉达": "英伟达",
    "microsoft": "微软",
    "msft": "微软",
    "google": "谷歌",
    "alphabet": "谷歌",
    "amazon": "亚马逊",
    "aws": "亚马逊",
    "meta": "meta",
    "脸书": "meta",
    "facebook": "meta",
    "apple": "苹果",
    "tesla": "特斯拉",
    "intel": "英特尔",
    "amd": "amd",
    "超威": "amd",
    "tsmc": "台积电",
    "samsung": "三星",
    "bytedance": "字节跳动",
    "字节": "字节跳动",
    "alibaba": "阿里巴巴",
    "阿里": "阿里巴巴",
    "tencent": "腾讯",
    "baidu": "百度",
    "huawei": "华为",
    "xiaomi": "小米",
    "openai": "openai",
    "anthropic": "anthropic",
    "softbank": "软银",
    "剩余履约义务": "rpo",
    "remaining performance obligations": "rpo",
    "资本支出": "资本开支",
    "capex": "资本开支",
    "营业收入": "营收",
    "收入": "营收",
    "revenue": "营收",
    "净利": "净利润",
    "出货": "出货量",
    "毛利": "毛利率",
    "估值": "估值",
    "市值": "市值",
}

#: Companies and labs: a shared one of these is what makes two sentences about the *same* thing.
ENTITY_NAMES = set(
    """
    甲骨文 英伟达 微软 谷歌 亚马逊 meta 苹果 特斯拉 英特尔 amd 台积电 三星 字节跳动 阿里巴巴 阿里云 腾讯 腾讯云
    百度 华为 华为云 小米 openai anthropic 软银 寒武纪 中芯国际 海光 摩尔线程 壁仞 沐曦 天数智芯 燧原 昆仑芯
    美团 拼多多 京东 快手 网易 金山 比亚迪 宁德时代 理想汽车 蔚来 小鹏 联想 浪潮 中兴 科大讯飞 商汤 旷视 智谱
    月之暗面 百川智能 深度求索 博通 高通 美光 海力士 阿斯麦 戴尔 超微电脑 鸿海 富士康 中际旭创 新易盛 工业富联
    """.split()
)

#: Metrics jieba should keep whole; unlike entities they are common nouns (营收 is in many sentences).
METRIC_WORDS = [
    "剩余履约义务",
    "营收",
    "资本开支",
    "资本支出",
    "营业收入",
    "数据中心",
    "云基础设施",
    "出货量",
    "毛利率",
    "净利润",
    "市场份额",
    "市场规模",
    "研发投入",
    "用户规模",
    "算力",
    "推理芯片",
    "训练芯片",
    "服务器",
]

#: Words jieba should keep whole so that they match as one term.
DOMAIN_WORDS = sorted(ENTITY_NAMES | {"英伟达", "字节跳动", "台积电"}) + METRIC_WORDS

#: ASCII words too common in reports to tell two subjects apart.
ASCII_GENERIC = set(
    "ai gpu gpus cpu api llm llms ml it ceo cfo cto ipo etf esg kpi b2b b2c pc ar vr xr iot saas paas iaas "
    "app apps sdk tco roi capex opex yoy qoq mom usd rmb cny eur hkd fy q1 q2 q3 q4 h1 h2 pp bp".split()
)

#: Function words and report boilerplate: never evidence that two sentences share a referent.
STOP_WORDS = set(
    """
    的 了 和 与 及 或 在 是 为 有 也 都 而 但 就 将 被 把 对 从 向 到 至 由 以 于 其 这 那 之 等 各 每 该 此 并 又
    我们 你们 他们 它们 我 你 他 她 它 这个 那个 这些 那些 这一 一个 一些 一种 一家 一项 一次 一批 一台
    以及 或者 而且 并且 但是 然而 因此 所以 因为 如果 虽然 不过 此外 其中 其他 其它 之一 之后 之前 以来 以后
    以上 以下 左右 上下 大约 约为 约合 接近 将近 超过 突破 不到 不足 至少 最多 高达 多达 达到 达 约 近 超 逾
    可以 可能 能够 已经 已 正在 仍然 仍 还 更 最 很 非常 较 比 相比 相较 对比 同比 环比 同期 分别 合计 总计 共计
    增长 增加 提升 提高 上升 上涨 下降 下滑 减少 降低 回落 翻倍 扩大 缩小 实现 完成 带来 成为 保持 继续 进行
    预计 预期 预测 估计 计划 宣布 表示 显示 认为 指出 称 据 根据 报道 消息 报告 数据 资料 统计 来源 信息
    公司 企业 集团 厂商 机构 行业 市场 产业 领域 业务 方面 部分 整体 总体 全球 国内 国外 海外 中国 美国
    年 月 日 天 周 季度 年度 财年 全年 上半年 下半年 今年 去年 明年 目前 当前 现在 未来 近期 此前 随后 期间
    亿 万 千 百 十 亿元 万元 美元 人民币 元 欧元 港元 百分点 个百分点 倍 规模 数量 总额 金额 水平 比例 占比
    公开 资料 上年 上一年 同年 当年 本年 报道称 数据显示 消息人士 知情人士 人士 媒体 官方 财报 年报 季报 公告
    截至 截止 同时 包括 包含 其中 主要 相关 方面 情况 问题 影响 作用 价值 重要 关键 核心 最新 首次 新
    公布 发布 推出 披露 透露 获得 拥有 需要 使用 采用 提供 支持 通过 进入 开始 发现 出现 形成 取得 录得 创下
    约等于 相当于 等于 大约 超出 高出 低于 高于 左右 之间 左右 一共 总共 全部 所有 整个 单个 每个 各个
    the of and to in for on with by at from as is are was were be this that its it an a or
    """.split()
) | ASCII_GENERIC | {"科技", "技术", "产品", "服务", "平台", "项目", "用户", "客户", "成本", "价格", "投资", "投入"}

_TIME_RE = re.compile(
    r"(?<![0-9])((?:19|20)[0-9]{2})(?=\s?(?:年|财年|财季|Q[1-4]|H[12]|[-/.][0-9]))"
    r"|FY\s?((?:19|20)?[0-9]{2})(?![0-9])"
    r"|(?<![A-Za-z])Q([1-4])(?![0-9])"
    r"|第?([一二三四1-4])季度"
    r"|([上下])半年"
)
_CN_QUARTER = {"一": "1", "二": "2", "三": "3", "四": "4"}
_SENTENCE_END = re.compile(r"[。！？!?\n]|\.(?=\s)")
_CLAUSE_END = re.compile(r"[，,；;|]")
_HAS_DIGIT = re.compile(r"[0-9]")
_HAS_LETTER = re.compile(r"[A-Za-z]")
_NUMERAL_ONLY = re.compile(r"^[0-9零〇一二两三四五六七八九十百千万亿.,%]+$")
#: Tokens that are only scale and currency words: 亿美元, 万元, 千亿 … (jieba keeps some whole).
_UNIT_ONLY = re.compile(r"^[个十百千万亿兆]*(?:美元|美金|元|人民币|欧元|港元|港币|日元|英镑|韩元|块钱)?$")
#: Single characters that end a run of unknown-word characters (function words, measure words).
_STOP_CHARS = set("的了和与及或在是为有也都而但就将被把对从向到至由以于其这那之等各每该此并又约近超逾达年月日个家台张亿万元")
_WORDISH = re.compile(r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff.+-]*$")

_METRIC_SET = set(METRIC_WORDS) | {"rpo"}
SENTENCE_WINDOW = 160  # chars each side of the number: long unpunctuated text is cut to this
NEAR_WINDOW = 40  # chars each side of the number, inside its clause


@dataclass(frozen=True)
class Referent:
    """What the text around one number talks about."""

    near: frozenset[str]
    terms: frozenset[str]
    times: frozenset[str]
    sentence: str
    context: frozenset[str] = frozenset()  # names carried from the previous sentence (see TextReferents)


@lru_cache(maxsize=1)
def _tokenizer():
    """A private jieba tokenizer with the domain words added (the global one is left untouched)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    for w in DOMAIN_WORDS:
        if not w.isascii():
            tk.add_word(w, freq=200_000)
    return tk


def vocabulary_id() -> str:
    """Changes whenever the word lists that decide `is_named` change (the store keys postings on it)."""
    import hashlib

    words = "\n".join(sorted(ENTITY_NAMES)) + "\t" + "\n".join(sorted(_METRIC_SET)) + "\t" + "\n".join(sorted(ASCII_GENERIC))
    return hashlib.sha256(words.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=200_000)
def is_named(term: str) -> bool:
    """True for a term that names something specific (a company, a product, an unknown proper name).

    Used to tell "same entity and metric" (strong, may contradict) from "same metric words" (weak):
    a listed entity, an ASCII name (Blackwell, H100, RPO), or a word jieba's dictionary does not
    know (unknown words are mostly names); known common nouns (营收, 芯片) are not.
    """
    if term in ENTITY_NAMES:
        return True
    if term in _METRIC_SET:
        return False
    if term.isascii():
        return term not in ASCII_GENERIC
    return _tokenizer().FREQ.get(term, 0) == 0


@lru_cache(maxsize=200_000)
def normalize_term(token: str) -> str | None:
    """A content term for `token`, or None for stop words, numbers, units and punctuation."""
    t = token.strip()
    if not t or not _WORDISH.match(t):
        return None
    low = t.lower()
    if low in ALIASES:
        return ALIASES[low]
    if t in STOP_WORDS or low in STOP_WORDS:
        return None
    if _NUMERAL_ONLY.match(t) or _UNIT_ONLY.match(t):
        return None
    if t[0].isdigit() or (_HAS_DIGIT.search(t) and not _HAS_LETTER.search(t)):
        return None  # 8张, 1000W, 80GB: a number with its unit, not a referent (H100 is one)
    if t.isascii():
        return low if len(t) >= 2 else None
    return t if len(t) >= 2 else None


@lru_cache(maxsize=65_536)
def _tokens(sentence: str) -> tuple[tuple[str, int, int], ...]:
    """(term, start, end) of the content tokens of a sentence; cached, sentences repeat.

    Without HMM, jieba cuts a word it does not know into single characters (营收 → 营 收); runs of
    such characters are joined back, so unknown names and metrics still count as terms.
    """
    out: list[tuple[str, int, int]] = []
    run: list[tuple[str, int, int]] = []

    def flush() -> None:
        if 2 <= len(run) <= 6:
            word = "".join(w for w, _, _ in run)
            term = normalize_term(word)
            if term is not None:
                out.append((term, run[0][1], run[-1][2]))
        run.clear()

    for word, s, e in _tokenizer().tokenize(sentence, HMM=False):
        if len(word) == 1 and "\u4e00" <= word <= "\u9fff" and word not in _STOP_CHARS:
            run.append((word, s, e))
            continue
        flush()
        term = normalize_term(word)
        if term is not None:
            out.append((term, s, e))
    flush()
    return tuple(out)


def terms_of(text: str) -> frozenset[str]:
    """Content terms of a short text (curated entity and metric names, search words)."""
    found = {t for t, _, _ in _tokens(text)}
    whole = normalize_term(text)
    if whole is not None and len(text) <= 24:
        found.add(whole)  # "RPO", "Oracle": an alias is a term even when jieba splits it
    return frozenset(found)


def times_of(text: str) -> frozenset[str]:
    """Years and quarters mentioned: {"y2025", "q4", "h1"}."""
    found = set()
    for m in _TIME_RE.finditer(text):
        year, fy, q, cnq, half = m.groups()
        if year:
            found.add("y" + year)
        elif fy:
            found.add("y" + (fy if len(fy) == 4 else "20" + fy))
        elif q:
            found.add("q" + q)
        elif cnq:
            found.add("q" + _CN_QUARTER.get(cnq, cnq))
        elif half:
            found.add("h1" if half == "上" else "h2")
    return frozenset(found)


def times_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when both sides name years (or quarters) and none of them agree."""
    for prefix in ("y", "q", "h"):
        xa = {t for t in a if t[0] == prefix}
        xb = {t for t in b if t[0] == prefix}
        if xa and xb and not xa & xb:
            return True
    return False


class TextReferents:
    """Referents of the numbers of one text; sentence boundaries are found once per text."""

    def __init__(self, text: str, *, carry_names: bool = False) -> None:
        """`carry_names`: a sentence that names nothing takes the names of the previous sentence of
        its paragraph as `context` ("甲骨文公布财报。其RPO为4550亿美元。" is about 甲骨文). Used for
        report claims, to verify only (never to contradict); not for stored facts, where it would
        double the tokenizing cost of an import."""
        self.text = text
        self.carry_names = carry_names
        self._ends = [m.start() for m in _SENTENCE_END.finditer(text)]

    def sentence_span(self, start: int, end: int) -> tuple[int, int]:
        i = bisect.bisect_left(self._ends, start)
        s = self._ends[i - 1] + 1 if i > 0 else 0
        j = bisect.bisect_left(self._ends, end)
        e = self._ends[j] if j < len(self._ends) else len(self.text)
        s = max(s, start - SENTENCE_WINDOW)
        e = min(e, end + SENTENCE_WINDOW)
        return s, e

    def referent(self, start: int, end: int) -> Referent:
        s, e = self.sentence_span(start, end)
        sentence = self.text[s:e]
        a, b = start - s, end - s
        # clause: from the last clause mark before the number to the first one after it
        cs = 0
        for m in _CLAUSE_END.finditer(sentence, 0, a):
            cs = m.end()
        m = _CLAUSE_END.search(sentence, b)
        ce = m.start() if m else len(sentence)
        cs, ce = max(cs, a - NEAR_WINDOW), min(ce, b + NEAR_WINDOW)
        tokens = _tokens(sentence)
        near = {t for t, ts, te in tokens if ts < ce and te > cs}
        if not near and cs > 0:
            # "RPO达到4550亿美元，同比增长359%": a clause of generic words is about the previous one
            ps = 0
            for m in _CLAUSE_END.finditer(sentence, 0, max(0, cs - 1)):
                ps = m.end()
            near = {t for t, ts, te in tokens if ts < ce and te > max(ps, a - 2 * NEAR_WINDOW)}
        terms = frozenset(t for t, _, _ in tokens)
        context: frozenset[str] = frozenset()
        if self.carry_names and s > 0 and self.text[s - 1] != "\n" and not any(is_named(t) for t in terms):
            ps, _ = self.sentence_span(s - 1, s - 1)
            context = frozenset(t for t, _, _ in _tokens(self.text[ps : s - 1]) if is_named(t)) - terms
        return Referent(frozenset(near), terms, times_of(sentence), sentence.strip(), context)
