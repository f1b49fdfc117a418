"""Coverage in the digest and commentary kinds: an item or a topic whose sources are about something else
is named in one line, nothing unrelated is written for it, and a digest item about something else cannot
score above ★★ (the stars include coverage: `digest_rules.credibility`)."""

from __future__ import annotations

import re

import pytest
from kindkit import PROJECT_SOURCES, assert_in_order, body_of

from pipeline.kinds.coverage import THRESHOLD
from pipeline.kinds.digest.rules import credibility, credibility_detail
from pipeline.models import SearchResult

OFFICIAL = SearchResult(title="t", url="https://www.sec.gov/x")
CITED = re.compile(r"[。！？；]\[\d+\]")  # a quoted source sentence and its citation


@pytest.mark.parametrize(
    ("coverage", "stars"),
    [
        (None, 5),  # no coverage given: the formula as before (K = 1)
        (1.0, 5),
        (THRESHOLD, 5),  # covered: K = 1
        (0.5, 2),  # K = 0.83 → 1 + round(3.33) = 4, capped at 2: the item is about something else
        (0.1, 2),  # K = 0.17 → 1 + round(0.67) = 2
        (0.0, 1),  # K = 0 → 1
    ],
)
def test_stars_include_coverage(coverage, stars):
    assert credibility({"verified": 10}, [OFFICIAL] * 5, coverage) == stars


def test_detail_keeps_the_coverage_it_was_computed_with():
    d = credibility_detail({"verified": 2}, [OFFICIAL] * 5, 0.25)
    assert d["stars"] <= 2 and d["coverage"] == 0.25 and d["coverage_threshold"] == THRESHOLD
    assert "coverage" not in credibility_detail({"verified": 2}, [OFFICIAL] * 5)


def run_extractive(yanbao, *args: str):
    return yanbao("run", *args, "--llm", "extractive", "--search", "local", "--sources", str(PROJECT_SOURCES),
                  "--out", "out", "--quiet")


def test_digest_item_about_something_else_scores_at_most_two_stars(yanbao):
    """`--kind digest "中国新能源汽车出口"` scored ★★★★★ on an article about 东数西算."""
    res = run_extractive(yanbao, "--kind", "digest", "中国新能源汽车出口")
    assert res.code == 3, res.stderr
    assert len([line for line in res.stderr.splitlines() if line.strip()]) == 1
    body = body_of(res.text)
    assert_in_order(body, ["## ", "中国新能源汽车出口", "**可信度评分：** ", "（本节未能生成：资料未覆盖这一条目"])
    assert "## 执行摘要" not in body and "第一部分" not in body and not CITED.search(body)
    item = res.manifest["items"][0]
    assert item["coverage"]["covered"] is False and item["coverage"]["threshold"] == THRESHOLD
    assert item["credibility"]["stars"] <= 2 and body.count("★") == item["credibility"]["stars"]
    assert item["credibility"]["coverage"] == item["coverage"]["score"]


def test_digest_item_on_topic_keeps_its_stars(yanbao):
    res = run_extractive(yanbao, "--kind", "digest", "英伟达H20对华销售")
    assert res.code == 0, res.stderr
    item = res.manifest["items"][0]
    assert item["coverage"]["covered"] and item["credibility"]["stars"] >= 3


def test_commentary_topic_about_something_else_is_named_not_written(yanbao):
    res = run_extractive(yanbao, "--kind", "commentary", "猫粮品牌推荐", "H200出口许可")
    assert res.code == 0, res.stderr
    body = body_of(res.text)
    header = body.split("\n## ", 1)[0]
    assert "**未能成文的话题**" in header and "猫粮品牌推荐：资料未覆盖这一话题" in header
    assert body.count("\n**结语**") == 1  # one article, about H200
    arts = {a["topic"]: a for a in res.manifest["articles"]}
    assert arts["猫粮品牌推荐"]["status"] == "not covered" and not arts["猫粮品牌推荐"]["coverage"]["covered"]
    assert arts["H200出口许可"]["status"] == "done" and arts["H200出口许可"]["coverage"]["covered"]


def test_commentary_with_no_covered_topic_is_exit_3(yanbao):
    res = run_extractive(yanbao, "--kind", "commentary", "猫粮品牌推荐", "房地产市场走势")
    assert res.code == 3, res.stderr
    assert len([line for line in res.stderr.splitlines() if line.strip()]) == 1
    assert not CITED.search(body_of(res.text))
