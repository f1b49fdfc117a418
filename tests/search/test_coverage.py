"""Coverage (`pipeline/kinds/coverage.py`): a score from retrieval that separates topics the corpus covers from
topics it does not, including topics that share generic words (中国, 市场, 发展, 出口, 价格) with it.

This file holds the development list the threshold was chosen on: 20 on-topic and 20 off-topic topics of
our own, searched in the shipped `sources/` corpus as the plan's preview search does (top 5). The
threshold is checked on another list by `bench/report_quality.py` (bench/results/report_quality.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.kinds.coverage import (
    THRESHOLD,
    Coverage,
    coverage,
    mentions,
    subject_units,
    subtopic_coverage,
    topic_units,
)
from pipeline.models import SearchResult
from pipeline.search.local import LocalSearch

ROOT = Path(__file__).resolve().parents[2]

ON_TOPIC = [
    "英伟达H20对华销售", "人工智能发展趋势", "云厂商资本开支", "数据中心电力", "H200出口许可", "台积电CoWoS产能",
    "HBM供应格局", "大模型API价格战", "华为昇腾路线图", "寒武纪营收", "AI智能体企业落地", "液冷数据中心PUE",
    "美国芯片出口管制", "推理算力需求", "GPU租赁价格", "甲骨文剩余履约义务", "中国token消耗量", "开源大模型",
    "海光DCU", "OpenAI算力承诺",
]
OFF_TOPIC = [
    "中国新能源汽车出口", "美联储降息对A股影响", "猫粮品牌推荐", "房地产市场走势", "欧洲杯足球赛事分析", "新冠疫苗研发进展",
    "二手车价格", "宠物医院", "光伏组件价格", "中国电影票房", "黄金价格走势", "高考志愿填报", "咖啡连锁品牌扩张",
    "跨境电商物流", "养老金改革", "乡村旅游发展", "白酒行业分析", "锂电池回收", "中国人口老龄化", "足球转会市场",
]


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> LocalSearch:
    s = LocalSearch(ROOT / "sources", tmp_path_factory.mktemp("index") / "index.db")
    yield s
    s.close()


@pytest.fixture(scope="module")
def scores(search) -> dict[str, float]:
    return {t: coverage(t, search.search(t, 5)).score for t in ON_TOPIC + OFF_TOPIC}


def test_dev_list_is_separated_with_a_margin(scores):
    on = {t: scores[t] for t in ON_TOPIC}
    off = {t: scores[t] for t in OFF_TOPIC}
    assert all(s >= THRESHOLD for s in on.values()), on
    assert all(s < THRESHOLD for s in off.values()), off
    # the threshold sits in the gap, not at its edge: an on-topic topic is covered whole, the closest
    # off-topic one (美联储降息对A股影响: A股 is in the corpus) stays well below
    assert min(on.values()) - THRESHOLD >= 0.3 and THRESHOLD - max(off.values()) >= 0.15


def test_generic_words_do_not_cover_a_topic(search):
    """"中国" and "出口" are all over a corpus about export controls; "新能源汽车" is nowhere."""
    cov = coverage("中国新能源汽车出口", search.search("中国新能源汽车出口", 5))
    assert not cov.covered and cov.score < 0.3
    assert coverage("房地产市场走势", search.search("房地产市场走势", 5)).score < 0.2


def test_topic_units_glue_names_jieba_cuts_apart():
    words = [u.text for u in topic_units("英伟达H20对华销售")]
    assert words[:2] == ["英伟达", "h20"]
    assert [u.text for u in topic_units("台积电CoWoS产能")][0] == "台积电"
    assert [u.text for u in topic_units("猫粮品牌推荐")][0] == "猫粮"
    weights = {u.text: u for u in topic_units("中国新能源汽车出口")}
    assert weights["中国"].generic and weights["中国"].weight < 0.1 < weights["新能源"].weight
    assert weights["出口"].aspect if "出口" in weights else weights["汽车出口"].parts


def test_subject_is_what_the_topic_is_about():
    assert [u.text for u in subject_units("英伟达H20对华销售")] == ["英伟达", "h20"]
    assert [u.text for u in subject_units("人工智能发展趋势")] == ["人工智能"]
    assert [u.text for u in subject_units("寒武纪营收")] == ["寒武纪"]  # 营收 is an aspect
    assert mentions(subject_units("人工智能发展趋势"), "多家厂商发布了新一代AI芯片。")  # AI = 人工智能
    assert not mentions(subject_units("人工智能发展趋势"), "OpenAI发布了新模型。")  # not inside a Latin word


def _doc(title: str, text: str) -> SearchResult:
    return SearchResult(title=title, url=f"https://example.com/{abs(hash(title))}", content=text)


def test_a_subtopic_needs_the_topic_and_its_own_words():
    material = [
        _doc("高带宽内存供给", "SK海力士在全球HBM市场的份额为62%。美国把HBM纳入对华出口管制。"),
        _doc("英伟达H20对华销售", "英伟达H20对华销售需要许可证，英伟达为此计提了45亿美元减值。"),
    ]
    assert subtopic_coverage("英伟达H20对华销售", "英伟达H20对华销售：许可证与减值", material).covered
    off = subtopic_coverage("中国新能源汽车出口", "中国新能源汽车出口：HBM与管制", material)
    assert not off.covered  # the HBM material is about HBM, not about electric cars
    mixed = subtopic_coverage("英伟达H20对华销售", "新能源汽车电池", material)
    assert not mixed.covered  # the topic is covered, what the sub-topic adds is not


def test_coverage_is_deterministic_and_explained():
    material = [_doc("液冷与PUE", "液冷正在成为新建AI数据中心的标配，PUE降到1.2以下。")]
    a, b = coverage("液冷数据中心PUE", material), coverage("液冷数据中心PUE", list(reversed(material)))
    assert a == b and a.covered and a.title == "液冷与PUE"
    assert Coverage(0.2).to_json() == {"score": 0.2, "covered": False, "best": ""}
    assert coverage("液冷数据中心PUE", []).score == 0.0
