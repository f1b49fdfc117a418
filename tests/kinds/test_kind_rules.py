"""The pure rules behind the two kinds: credibility stars, source quality, item forms, metric names,
section numbering, topics files, and the digest's stars from the claims of each item's section."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.kinds.commentary.kind import join_title, numeral, section_title
from pipeline.kinds.digest.extractive import metric_name
from pipeline.kinds.digest.kind import STAR_MARKS, UNRATED, Item, Stars, item_form, url_words
from pipeline.kinds.digest.rules import (
    BLOG,
    NAMED,
    OFFICIAL,
    RESEARCH,
    UNKNOWN,
    WIRE,
    credibility,
    emoji_for,
    guess_category,
    normalize_category,
    source_quality,
    stars_text,
)
from pipeline.kinds.topics import check_topics, read_topics_file
from pipeline.models import SearchResult
from pipeline.run.runner import BadInput


def src(url: str = "https://example.org/a", publisher: str = "") -> SearchResult:
    return SearchResult(title="t", url=url, publisher=publisher)


OFF = src("https://www.sec.gov/x")  # 1.0
WIRE_SRC = src("https://www.reuters.com/technology/")  # 0.8
BLOG_SRC = src("https://medium.com/@someone/post")  # 0.3
ANON = src("https://example.org/a")  # 0.4


@pytest.mark.parametrize(
    ("summary", "sources", "stars"),
    [
        # stars = 1 + round(4 × (0.5·V + 0.3·Q + 0.2·N)); V = verified share (0.5 without numbers),
        # Q = mean source quality, N = min(sources, 5) / 5; a contradiction caps at 3; no source → 1.
        ({"verified": 10}, [OFF] * 5, 5),  # 0.5 + 0.3 + 0.2 = 1.0
        ({"verified": 10}, [OFF], 4),  # 0.5 + 0.3 + 0.04 = 0.84 → 4.36
        ({}, [OFF] * 5, 4),  # 0.25 + 0.3 + 0.2 = 0.75 → 4.0
        ({}, [ANON], 3),  # 0.25 + 0.12 + 0.04 = 0.41 → 2.64
        ({"unsupported": 4}, [BLOG_SRC] * 2, 2),  # 0 + 0.09 + 0.08 = 0.17 → 1.68
        ({"verified": 9, "contradicted": 1}, [OFF] * 5, 3),  # 0.95 → 5, capped at 3
        ({"verified": 3, "unsupported": 1}, [WIRE_SRC] * 3, 4),  # 0.375 + 0.24 + 0.12 = 0.735 → 3.94
        ({"verified": 5}, [], 1),  # no source at all
    ],
)
def test_credibility_table(summary, sources, stars):
    assert credibility(summary, sources) == stars


def test_credibility_is_monotone_in_verified_share():
    sources = [WIRE_SRC] * 3
    scores = [credibility({"verified": v, "unsupported": 10 - v}, sources) for v in range(11)]
    assert scores == sorted(scores) and scores[0] < scores[-1]


@pytest.mark.parametrize(
    ("source", "quality"),
    [
        (src("https://www.bis.gov/"), OFFICIAL),
        (src("https://www.ndrc.gov.cn/"), OFFICIAL),
        (src("https://investor.atmeta.com/"), OFFICIAL),
        (src("https://nvidianews.nvidia.com/news/x"), OFFICIAL),
        (src("https://www.reuters.com/technology/"), WIRE),
        (src("https://www.iea.org/reports/energy-and-ai"), RESEARCH),
        (src("https://eta.lbl.gov/x"), OFFICIAL),
        (src("https://zhuanlan.zhihu.com/p/1"), BLOG),
        (src("https://example.org/a"), UNKNOWN),
        (src("https://example.org/a", "某某科技博客"), NAMED),
        # Local documents (file:// addresses) count by their publisher field.
        (src("file:///srv/sources/a.md", "微软（Microsoft）投资者关系"), OFFICIAL),
        (src("file:///srv/sources/a.md", "路透社（Reuters）"), WIRE),
        (src("file:///srv/sources/a.md", "斯坦福大学以人为本人工智能研究院（Stanford HAI）"), RESEARCH),
        (src("file:///srv/sources/a.md", "测试资讯"), NAMED),
        (src("file:///srv/sources/a.md", ""), UNKNOWN),
    ],
)
def test_source_quality(source, quality):
    assert source_quality(source) == quality


def test_stars_and_categories():
    assert stars_text(4) == "★★★★☆" and stars_text(0) == "☆☆☆☆☆" and stars_text(9) == "★★★★★"
    assert emoji_for("芯片与算力") == "⚡" and emoji_for("不存在的分类") == "📰"
    assert guess_category(["美国收紧出口管制，许可证要求升级"]) == "政策与监管"
    assert normalize_category("芯片", ["GPU算力"]) == "芯片与算力"
    assert normalize_category("AI产品") == "AI产品"


@pytest.mark.parametrize(
    ("given", "form"),
    [
        ("https://example.com/news.html", "url"),
        ("HTTP://EXAMPLE.COM/", "url"),
        ("英伟达H20对华销售", "topic"),
        ("AI/ML 发展趋势", "topic"),
        ("notes/missing-file.md", "document"),
    ],
)
def test_item_form(given, form):
    assert item_form(given) == form


def test_url_words():
    assert url_words("https://example.com/news/2025/nvidia-h20_china-sales.html") == "nvidia h20 china sales"
    assert url_words("https://example.com/") == ""


@pytest.mark.parametrize(
    ("sentence", "figure", "name"),
    [
        ("微软在2025财年第四季度的资本开支达到242亿美元，其中大部分投向人工智能数据中心。", "242亿美元",
         "微软在2025财年第四季度的资本开支"),
        ("英伟达表示，出口限制使其在2026财年第一季度计提了45亿美元的相关费用。", "45亿美元",
         "出口限制使其在2026财年第一季度计提相关费用"),
    ],
)
def test_metric_name_is_the_figures_clause(sentence, figure, name):
    start = sentence.index(figure)
    assert metric_name(sentence, start, start + len(figure)) == name


def test_commentary_numbering_and_titles():
    assert [numeral(i) for i in range(1, 6)] == ["一", "二", "三", "四", "五"]
    assert section_title("一、从训练到推理") == "从训练到推理"
    assert section_title("2. 供给约束") == "供给约束"
    assert section_title("第三部分：展望") == "展望"
    assert section_title("电力约束") == "电力约束"
    assert join_title("字节跳动押注算力。", "千亿预算背后的变局") == "字节跳动押注算力：千亿预算背后的变局"
    assert join_title("标题：", "：看点") == "标题：看点"


def test_topics_file_rules(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("# 选题\n\nA话题\nB话题  # 备注\nA话题\n", encoding="utf-8")
    assert read_topics_file(f) == ["A话题", "B话题"]
    f.write_bytes("甲\n乙\n".encode("gb18030"))
    assert read_topics_file(f) == ["甲", "乙"]
    assert check_topics("commentary", ["X"], f) == ["X", "甲", "乙"]
    with pytest.raises(BadInput, match="takes one topic"):
        check_topics("research", ["a", "b"], None)
    with pytest.raises(BadInput, match="is for --kind commentary"):
        check_topics("digest", [], f)
    assert check_topics("research", [], None) == []


def test_stars_are_rated_per_item_from_the_claims_of_its_section():
    """Each written item's stars come from the counts of its own section (in report order), go to its
    view and its run.json entry (a failed item gets none), and the report's score is the weakest."""
    a = Item(index=1, given="A", form="topic", sources=[OFF] * 5)
    b = Item(index=3, given="B", form="topic", sources=[OFF] * 5)
    views = [{"headline": "A", "stars": UNRATED}, {"headline": "B", "stars": UNRATED}]
    entries = [{"item": "A", "status": "done"}, {"item": "X", "status": "failed"}, {"item": "B", "status": "done"}]
    stars = Stars([a, b], views, entries)
    rated = stars.rate([Counter(verified=1, contradicted=1), Counter(verified=1)])

    detail_a, failed, detail_b = (e.get("credibility") for e in rated.manifest["items"])
    assert (detail_a["verified"], detail_a["contradicted"]) == (1, 1) and detail_a["stars"] == 3
    assert (detail_b["verified"], detail_b["contradicted"]) == (1, 0) and detail_b["stars"] == 5
    assert failed is None
    assert [v["stars"] for v in rated.context["items"]] == ["★★★☆☆", "★★★★★"]
    assert rated.manifest["credibility"] == {"stars": 3, "items": [3, 5]}
    # fixed width: the report before the stars and with them differ only in ★☆ (not checked again)
    assert len(UNRATED) == 5 and set(UNRATED + "★★★☆☆") <= set(rated.marks) == set(STAR_MARKS)
    # what the kind handed over is not edited
    assert views[0]["stars"] == UNRATED and "credibility" not in entries[0]
    with pytest.raises(RuntimeError, match="1 sections in the report for 2 items"):
        stars.rate([Counter()])
