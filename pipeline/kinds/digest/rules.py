"""The code-made parts of a digest: the category's emoji, a category guess, and the credibility stars.

Pure functions, no I/O, so that the rules are easy to read, test and explain in the README.

Credibility (`credibility`) is a 1–5 star score written by code, never by the LLM::

    V = verified / (verified + contradicted + unsupported)   share of the item's numbers that the facts
                                                           check backs; 0.5 when the item has no numbers
    Q = mean source_quality(s) over the item's sources       official 1.0, wire/major outlet 0.8,
                                                           research body 0.7, named publisher 0.6,
                                                           unknown 0.4, blog/forum 0.3
    N = min(number of sources, 5) / 5
    K = min(1, C / T)                                        C the item's coverage (`pipeline.kinds.coverage`: how
                                                           well its sources cover it), T its threshold
    stars = 1 + round(4 × K × (0.5·V + 0.3·Q + 0.2·N))      so 1 … 5
    any contradicted number caps the score at 3; an item its sources do not cover (C < T) at 2; no
    source at all gives 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NotRequired, TypedDict
from urllib.parse import urlsplit

from pipeline.kinds.digest.slots import DIGEST_CATEGORIES
from pipeline.models import SearchResult

# ---------------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------------

CATEGORY_EMOJI: dict[str, str] = {
    "AI产品": "🤖",
    "芯片与算力": "⚡",
    "云与数据中心": "☁️",
    "模型与技术": "🧠",
    "政策与监管": "⚖️",
    "资本与财报": "💰",
    "能源与基础设施": "🔋",
    "行业动态": "📰",
}
DEFAULT_CATEGORY = "行业动态"

#: Words that point to a category, matched as lower-case substrings.
CATEGORY_CUES: dict[str, tuple[str, ...]] = {
    "AI产品": ("产品", "发布", "上线", "功能", "助手", "应用", "用户", "app", "智能体"),
    "芯片与算力": ("芯片", "gpu", "算力", "加速器", "晶圆", "制程", "hbm", "封装", "h20", "h200", "h100", "昇腾"),
    "云与数据中心": ("云", "数据中心", "服务器", "集群", "资本开支", "机房"),
    "模型与技术": ("模型", "训练", "推理", "参数", "开源", "算法", "token"),
    "政策与监管": ("出口", "管制", "许可", "监管", "政策", "禁令", "法规", "制裁", "商务部"),
    "资本与财报": ("营收", "收入", "财报", "利润", "融资", "估值", "股价", "季度", "财年", "ipo"),
    "能源与基础设施": ("电力", "能耗", "用电", "电网", "液冷", "核电", "能源", "pue"),
}


def emoji_for(category: str) -> str:
    return CATEGORY_EMOJI.get(category, CATEGORY_EMOJI[DEFAULT_CATEGORY])


def guess_category(texts: Iterable[str]) -> str:
    """The category whose cue words occur most often in `texts` (ties: the order of DIGEST_CATEGORIES)."""
    low = "\n".join(texts).lower()
    best, best_n = DEFAULT_CATEGORY, 0
    for cat in DIGEST_CATEGORIES:
        n = sum(low.count(c) for c in CATEGORY_CUES.get(cat, ()))
        if n > best_n:
            best, best_n = cat, n
    return best


def normalize_category(value: str, fallback_texts: Iterable[str] = ()) -> str:
    """A model's category, mapped onto the fixed list: exact, contained, else guessed from the text."""
    value = (value or "").strip()
    if value in DIGEST_CATEGORIES:
        return value
    for cat in DIGEST_CATEGORIES:
        if cat in value or (value and value in cat):
            return cat
    return guess_category([value, *fallback_texts])


# ---------------------------------------------------------------------------------------------
# Source quality
# ---------------------------------------------------------------------------------------------

OFFICIAL, WIRE, RESEARCH, NAMED, UNKNOWN, BLOG = 1.0, 0.8, 0.7, 0.6, 0.4, 0.3

_OFFICIAL_HOSTS = ("sec.gov", "cninfo.com.cn", "hkexnews.hk", "sse.com.cn", "szse.cn", "bse.cn", "europa.eu")
_OFFICIAL_SUFFIXES = (".gov", ".gov.cn", ".gov.uk", ".gov.hk", ".mil", ".int")
_OFFICIAL_PREFIXES = ("investor.", "investors.", "ir.", "newsroom.", "nvidianews.")
_OFFICIAL_WORDS = ("投资者关系", "证券交易委员会", "交易所", "年报", "财报", "公告", "商务部", "工业与安全局",
                   "委员会", "国家", "政府", "监管", "部委", "国务院", "官方", "investor relations", "sec filing")
_WIRE_HOSTS = ("reuters.com", "apnews.com", "bloomberg.com", "xinhuanet.com", "news.cn", "ft.com", "wsj.com",
               "nikkei.com", "asia.nikkei.com", "caixin.com", "yicai.com", "thepaper.cn", "people.com.cn",
               "chinadaily.com.cn", "cctv.com", "bbc.com", "nytimes.com", "cnbc.com", "scmp.com", "36kr.com")
_WIRE_WORDS = ("路透社", "新华社", "彭博", "美联社", "法新社", "财新", "第一财经", "澎湃", "人民日报", "中国日报",
               "央视", "日经", "金融时报", "华尔街日报", "reuters", "bloomberg", "xinhua")
_RESEARCH_HOSTS = ("iea.org", "oecd.org", "imf.org", "worldbank.org", "gartner.com", "idc.com", "mckinsey.com",
                   "counterpointresearch.com", "trendforce.com", "semianalysis.com", "mlcommons.org", "arxiv.org")
_RESEARCH_SUFFIXES = (".edu", ".edu.cn", ".ac.cn", ".ac.uk")
_RESEARCH_WORDS = ("研究院", "研究所", "实验室", "大学", "国际能源署", "高德纳", "麦肯锡", "咨询", "研究",
                   "institute", "university", "laboratory", "gartner", "idc", "mckinsey", "counterpoint")
_BLOG_HOSTS = ("medium.com", "substack.com", "zhihu.com", "weibo.com", "csdn.net", "jianshu.com", "blogspot.com",
               "wordpress.com", "toutiao.com", "douyin.com", "bilibili.com", "reddit.com", "x.com", "twitter.com",
               "mp.weixin.qq.com", "tieba.baidu.com", "baijiahao.baidu.com")


def _host(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def _host_in(host: str, names: Sequence[str]) -> bool:
    return any(host == n or host.endswith("." + n) for n in names)


def source_quality(src: SearchResult) -> float:
    """How much one source counts: by its web address when it has one, else (local documents, whose
    address may be a file) by its `publisher` field. The rules are lists of names, in this order:
    official (government, regulators, filings, exchanges, investor relations) 1.0; wire services and
    major outlets 0.8; research bodies and analysts 0.7; blogs and forums 0.3; any other source with a
    named publisher 0.6; unknown 0.4."""
    host = _host(src.url) if re.match(r"^https?://", src.url or "", re.I) else ""
    pub = (src.publisher or "").lower()
    if host:
        if _host_in(host, _OFFICIAL_HOSTS) or host.endswith(_OFFICIAL_SUFFIXES) or host.startswith(_OFFICIAL_PREFIXES):
            return OFFICIAL
        if _host_in(host, _WIRE_HOSTS):
            return WIRE
        if _host_in(host, _RESEARCH_HOSTS) or host.endswith(_RESEARCH_SUFFIXES):
            return RESEARCH
        if _host_in(host, _BLOG_HOSTS):
            return BLOG
    if pub:
        if any(w in pub for w in _OFFICIAL_WORDS):
            return OFFICIAL
        if any(w in pub for w in _WIRE_WORDS):
            return WIRE
        if any(w in pub for w in _RESEARCH_WORDS):
            return RESEARCH
        return NAMED
    return UNKNOWN


# ---------------------------------------------------------------------------------------------
# Credibility
# ---------------------------------------------------------------------------------------------

MAX_COUNTED_SOURCES = 5


def credibility(checks_summary: Mapping[str, int], sources: Sequence[SearchResult], coverage: float | None = None) -> int:
    """1–5 stars from the facts check of the item's numbers, from its sources and from how well they
    cover the item (see the module docstring for the formula). `checks_summary` counts claims by status:
    verified / contradicted / unsupported (missing keys count 0); `coverage` None leaves K at 1."""
    from pipeline.kinds.coverage import THRESHOLD

    if not sources:
        return 1
    verified = int(checks_summary.get("verified", 0))
    contradicted = int(checks_summary.get("contradicted", 0))
    unsupported = int(checks_summary.get("unsupported", 0))
    total = verified + contradicted + unsupported
    v = verified / total if total else 0.5
    q = sum(source_quality(s) for s in sources) / len(sources)
    n = min(len(sources), MAX_COUNTED_SOURCES) / MAX_COUNTED_SOURCES
    k = 1.0 if coverage is None else max(0.0, min(1.0, coverage / THRESHOLD))
    stars = 1 + int(4 * k * (0.5 * v + 0.3 * q + 0.2 * n) + 0.5)  # round half up
    if contradicted:
        stars = min(stars, 3)
    if coverage is not None and coverage < THRESHOLD:  # an item about something else
        stars = min(stars, 2)
    return max(1, min(5, stars))


def stars_text(stars: int) -> str:
    """4 → ★★★★☆"""
    stars = max(0, min(5, stars))
    return "★" * stars + "☆" * (5 - stars)


class Credibility(TypedDict):
    """An item's stars with their inputs (run.json `items[].credibility`)."""

    stars: int
    verified: int
    contradicted: int
    unsupported: int
    verified_share: float | None
    source_quality: float
    sources: int
    coverage: NotRequired[float]
    coverage_threshold: NotRequired[float]


def credibility_detail(
    checks_summary: Mapping[str, int], sources: Sequence[SearchResult], coverage: float | None = None
) -> Credibility:
    """The score with its inputs, for run.json (so a reader can recompute it)."""
    from pipeline.kinds.coverage import THRESHOLD

    counts = {k: int(checks_summary.get(k, 0)) for k in ("verified", "contradicted", "unsupported")}
    total = sum(counts.values())
    detail = Credibility(
        stars=credibility(counts, sources, coverage),
        verified=counts["verified"],
        contradicted=counts["contradicted"],
        unsupported=counts["unsupported"],
        verified_share=round(counts["verified"] / total, 3) if total else None,
        source_quality=round(sum(source_quality(s) for s in sources) / len(sources), 3) if sources else 0.0,
        sources=len(sources),
    )
    if coverage is not None:
        detail["coverage"] = coverage
        detail["coverage_threshold"] = THRESHOLD
    return detail
