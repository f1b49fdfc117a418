"""How well the retrieved material covers a topic: a score in [0, 1] and the threshold it is held to.

Why: a search always returns *something*. "中国新能源汽车出口" shares 中国 and 出口 with a corpus about AI
chips and export controls, so BM25 ranks the export-control documents first and every slot of the
report could be filled with them. Coverage asks the question the reader cares about: does any passage
of the material speak about *this* topic's subject?

How the score is computed:

* **Topic units.** The topic is cut into words (jieba's precise mode, `pipeline.text.topic_words`);
  stop words are dropped; a lone character is glued to its neighbour, because jieba cuts short unknown
  names apart (英/伟达, 台积/电, 猫/粮). Aliases count as the same unit (人工智能 = AI, 大模型 = 大语言模型 = LLM).
* **Weights.** A unit weighs its rarity in general Chinese (`word_idf`, from jieba's dictionary, so the
  weight does not depend on the corpus): 英伟达/H20 1.0, 出口 0.5, 中国 0.34. Words that frame a topic
  without naming its subject (市场, 发展, 趋势, 走势, 影响, 中国, 全球, 推荐 …, `GENERIC`) weigh a quarter
  of that, so "市场" in the corpus does not make "房地产市场走势" covered; words that name an aspect of a
  subject (价格, 收入, 政策, 出口 …, `ASPECT`) weigh half, so "价格" does not make "鸡蛋价格" covered.
* **Presence.** A unit is present in a passage when it (or an alias) occurs there; a compound word that
  does not occur whole counts half the share of its non-generic parts that do (汽车出口: 出口 yes, 汽车 no
  → ¼).
* **Passage share.** Σ weight × presence / Σ weight, over one passage (the local index's ~300–500
  character passages, `split_passages`, with the document's title in front: a passage belongs to a
  document about something).
* **Coverage** = the best passage share over the retrieved results (the preview search for the topic;
  a worker's sources for a sub-topic; an item's sources for a digest item or a commentary topic).

A sub-topic is covered when its material covers both the topic and the sub-topic's own words:
`min(C(topic), C(sub-topic words))`, so a sub-topic labelled "中国新能源汽车出口：HBM与管制" whose material
is all about HBM is not, nor is "英伟达H20：新能源汽车" whose material is all about H20.

THRESHOLD was chosen on a development list of on- and off-topic topics (`tests/search/test_coverage.py`)
and checked on another list (`bench/report_quality.py`); see the README.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from pipeline.text import cut_for_search, topic_words, word_idf


class Material(Protocol):
    """What coverage reads of a source: a search result or a document (`pipeline.models`)."""

    @property
    def title(self) -> str | None: ...

    @property
    def text(self) -> str | None: ...

    @property
    def url(self) -> str | None: ...

THRESHOLD = 0.6
GENERIC_FACTOR = 0.25
ASPECT_FACTOR = 0.5
PART_FACTOR = 0.5  # a compound present only by its parts counts at most this much
# Words that frame a topic (its scope, its angle, the kind of text wanted) without naming what it is about.
GENERIC = frozenset(
    """中国 国内 我国 全球 国际 海外 世界 各国 本土 市场 行业 产业 领域 板块 赛道 发展 趋势 走势 前景 展望 现状
    分析 研究 报告 影响 机遇 机会 挑战 问题 策略 战略 格局 变化 动态 进展 最新 近期 推荐 品牌 对比 比较 评测 排名
    指南 建议 选择 如何 哪些 什么 为何 未来 情况 创新 转型 升级 路径 模式 前瞻 解读 观察 盘点 综述 概览 总结 回顾
    思考 启示 意义 作用 价值 对策 措施 方案 年度 季度 今年 明年 去年 近年 当前 目前 现在 主要 关键 重要 核心 热点
    新闻 资讯 事件 话题 现象 原因 因素 效应 关系 评估 预测 方向 逻辑 机制 规律 特点 特征 成因 对华 相关
    复苏 增长 下降 上涨 下跌 波动 走向 态势 形势 局势 表现 水平 规模 程度 情形""".split()
)
# Words that name an aspect of a subject (its price, its policy, its revenue), not the subject itself: half
# weight, and never the subject ("寒武纪营收" is about 寒武纪).
ASPECT = frozenset(
    """价格 收入 营收 成本 利润 销量 销售 产能 份额 估值 股价 需求 供应 供给 出货量 增速 用量 投资 开支 资本
    融资 市值 产量 政策 监管 改革 技术 应用 企业 公司 经济 竞争 合作 安全 标准 法规 人才 就业 消费 出口 进口
    贸易 产品 服务 平台 价格战 出货 订单 业绩 财报 营业收入 毛利率 净利润 用户 客户 生态 布局 商业化""".split()
)
# Interchangeable names: a unit is present when any of them is.
ALIASES: tuple[tuple[str, ...], ...] = (
    ("人工智能", "ai"),
    ("大模型", "大语言模型", "llm"),
    ("生成式人工智能", "aigc"),
    ("英伟达", "nvidia"),
    ("台积电", "tsmc"),
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_ASCII = re.compile(r"[a-z0-9.+\-]+")


@dataclass(frozen=True)
class Unit:
    """One word of a topic: the forms that count as it, its parts (for partial presence), its weight."""

    text: str
    forms: tuple[str, ...]
    parts: tuple[tuple[str, float], ...]
    weight: float
    generic: bool
    aspect: bool = False


def _parts(word: str) -> list[str]:
    """The dictionary words inside a compound (汽车出口 → 汽车, 出口), when they spell all of it."""
    if len(word) < 4 or not _CJK.search(word):
        return []
    subs = [s.lower() for s in cut_for_search(word) if s.lower() != word and len(s) >= 2]
    # keep the parts that are not inside a longer part, and only when they cover every character
    subs = [s for s in subs if not any(s != o and s in o for o in subs)]
    covered: set[int] = set()
    for s in subs:
        start = word.find(s)
        while start >= 0:
            covered.update(range(start, start + len(s)))
            start = word.find(s, start + 1)
    return list(dict.fromkeys(subs)) if len(covered) == len(word) else []


def _forms(word: str) -> tuple[str, ...]:
    for group in ALIASES:
        if word in group:
            return group
    return (word,)


@lru_cache(maxsize=1024)
def topic_units(text: str) -> tuple[Unit, ...]:
    """The weighted words of a topic (or sub-topic) text."""
    units = []
    for w in topic_words(text):
        parts = _parts(w)
        generic = w in GENERIC or (bool(parts) and all(p in GENERIC for p in parts))
        aspect = not generic and (w in ASPECT or (bool(parts) and all(p in GENERIC | ASPECT for p in parts)))
        factor = GENERIC_FACTOR if generic else ASPECT_FACTOR if aspect else 1.0
        part_w = tuple((p, word_idf(p)) for p in parts)
        units.append(Unit(text=w, forms=_forms(w), parts=part_w, weight=round(word_idf(w) * factor, 6),
                          generic=generic, aspect=aspect))
    return tuple(units)


def subject_units(topic: str) -> tuple[Unit, ...]:
    """What the topic is about: its units that are neither generic nor an aspect, at least half as heavy
    as the heaviest (英伟达H20对华销售 → 英伟达, H20; 微软Azure资本开支 → 微软, Azure; 人工智能发展趋势 →
    人工智能; 寒武纪营收 → 寒武纪). Failing those, the aspect units, then all units."""
    units = topic_units(topic)
    named = [u for u in units if not u.generic and not u.aspect] or [u for u in units if not u.generic] or list(units)
    if not named:
        return ()
    top = max(u.weight for u in named)
    return tuple(u for u in named if u.weight >= 0.5 * top)


@lru_cache(maxsize=512)
def _latin(form: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z]){re.escape(form)}(?![a-z])")


def _has(form: str, low: str) -> bool:
    if _ASCII.fullmatch(form):
        return _latin(form).search(low) is not None
    return form in low


def presence(unit: Unit, low: str) -> float:
    """1 when the unit (or an alias) occurs in the lower-cased text; else, for a compound, half the weighted
    share of its parts that occur (generic parts do not count: 体育产业 is not half present where 产业 is)."""
    if any(_has(f, low) for f in unit.forms):
        return 1.0
    if unit.parts:
        total = sum(w for _, w in unit.parts)
        found = sum(w for p, w in unit.parts if p not in GENERIC and _has(p, low))
        return PART_FACTOR * found / total if total else 0.0
    return 0.0


def share(units: Sequence[Unit], text: str) -> float:
    """Σ weight × presence / Σ weight of the units in one text."""
    total = sum(u.weight for u in units)
    if total <= 0:
        return 0.0
    low = text.lower()
    return sum(u.weight * presence(u, low) for u in units) / total


def mentions(units: Iterable[Unit], text: str) -> bool:
    """Whether the text names any of the units (whole, or an alias)."""
    low = text.lower()
    return any(_has(f, low) for u in units for f in u.forms)


@dataclass(frozen=True)
class Coverage:
    score: float
    title: str = ""  # the document of the best passage
    url: str = ""

    @property
    def covered(self) -> bool:
        return self.score >= THRESHOLD

    def to_json(self) -> dict[str, object]:
        return {"score": self.score, "covered": self.covered, "best": self.title}


def _passages(title: str, text: str) -> list[str]:
    from pipeline.search.local import split_passages

    body = split_passages(text) if text.strip() else []
    return [f"{title}\n{p}" for p in body] or [title]


@lru_cache(maxsize=4096)
def _passages_cached(title: str, text: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in _passages(title, text))


def best_share(units: Sequence[Unit], results: Iterable[Material]) -> tuple[float, str, str]:
    """The best passage share over results (anything with `title`, `url`, `text`), with its document."""
    best = (0.0, "", "")
    for r in results:
        for p in _passages_cached(r.title or "", r.text or ""):
            s = share(units, p)
            if s > best[0] + 1e-12:
                best = (s, r.title or "", r.url or "")
    return best


def coverage(topic: str, results: Iterable[Material]) -> Coverage:
    """How well `results` cover `topic` (see the module docstring)."""
    score, title, url = best_share(topic_units(topic), list(results))
    return Coverage(round(score, 3), title, url)


def subtopic_coverage(topic: str, subtopic: str, results: Iterable[Material]) -> Coverage:
    """min(C(topic), C(the sub-topic's own words)), both over the sub-topic's material: it must cover the
    topic, and what the sub-topic adds ("中国新能源汽车出口：HBM与管制" is not covered by material on HBM)."""
    results = list(results)
    whole = coverage(topic, results)
    own = {u.text for u in topic_units(topic)}
    extra = [u for u in topic_units(subtopic) if u.text not in own]
    if not extra:
        return whole
    score, title, url = best_share(extra, results)
    if score < whole.score:
        return Coverage(round(score, 3), title, url)
    return whole


def manifest_entry(cov: Coverage) -> dict[str, object]:
    return {"score": cov.score, "threshold": THRESHOLD, "covered": cov.covered}
