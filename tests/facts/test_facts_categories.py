"""One test (or a few) per kind of writing the facts check met in real material (issue 10).

Every source and claim here is written for these tests: a fictional maker of servers (澜舟科技), a
fictional bank (北川银行), a cloud market report. The evaluation set in tests/facts/data/eval/
measures the same kinds at scale (bench/facts_quality.py); these pin the rules down one by one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.facts.check import CONTRADICTED, UNSUPPORTED, VERIFIED, check_text, unchecked_spans
from pipeline.facts.extract import extract_claims
from pipeline.facts.store import FactStore

SOURCE = (
    "澜舟科技3月18日发布2024年年报。全年公司实现营业收入412亿元，同比增长23.4%；归母净利润为36.5亿元，"
    "同比增长9%。其中，服务器业务收入为310亿元，同比增长31%，毛利率约为20%。"
    "截至年末，公司剩余履约义务（RPO）达到1,280亿元，在手订单约10万台，员工人数为2.3万人。"
    "公司计划未来三年投入约300亿元建设智算中心，首期规划十万卡集群，交付周期为八个季度。"
    "上年同期，公司营业收入为334亿元。"
)
BANK = (
    "北川银行发布2024年度业绩。报告期内，该行净息差为1.71%，较上年下降18个基点；"
    "不良贷款率为1.08%，较上年末下降0.05个百分点。全年实现营业收入2,310亿元，其中利息净收入为1,620亿元。"
)
CLOUD = "据行业报告，2024年中国公有云市场规模为3,260亿元，其中IaaS市场规模为1,950亿元。"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    s = FactStore(tmp_path_factory.mktemp("facts") / "facts.db")
    s.import_text(SOURCE, title="澜舟科技年报", url="https://example.com/lanzhou-2024")
    s.import_text(BANK, title="北川银行业绩", url="https://example.com/beichuan-2024")
    s.import_text(CLOUD, title="公有云报告", url="https://example.com/cloud-2024")
    return s


def one_source(factory: pytest.TempPathFactory, name: str, text: str, title: str, url: str) -> FactStore:
    """A store of its own holding one source text (for a module's fixture)."""
    s = FactStore(factory.mktemp(name) / "facts.db")
    s.import_text(text, title=title, url=url)
    return s


def assert_pairs(tmp_path: Path, cases: tuple[tuple[str, str, str, str], ...]) -> None:
    """Each (source, claim, figure, status): the source in a store of its own, the claim checked on it."""
    for i, (source, claim, figure, want) in enumerate(cases):
        s = FactStore(tmp_path / f"pair{i}.db")
        s.import_text(source, title="t", url=f"https://example.com/pair{i}")
        assert status_of(claim, figure, s) == want, claim


def statuses(text: str, store: FactStore) -> dict[str, str]:
    return {c.text: c.status for c in check_text(text, store).claims}


def status_of(text: str, span: str, store: FactStore) -> str:
    found = statuses(text, store)
    assert span in found, (span, found)
    return found[span]


# -- a change and a level in one clause ----------------------------------------------------------------


def test_a_rate_and_a_level_in_one_clause_are_two_claims() -> None:
    claims = extract_claims("营收同比增长23.4%至412亿元。")
    assert [(c.text, c.value, c.unit, c.value_hi) for c in claims] == [
        ("23.4%", 23.4, "%", None),
        ("412亿元", 4.12e10, "CNY", None),
    ]


def test_a_range_needs_compatible_units_on_both_sides() -> None:
    assert [(c.value, c.value_hi) for c in extract_claims("毛利率在60%至70%之间。")] == [(60, 70)]
    assert [(c.value, c.value_hi) for c in extract_claims("出货13至16万台。")] == [(1.3e5, 1.6e5)]
    assert [(c.value, c.value_hi) for c in extract_claims("销量220万-230万辆。")] == [(2.2e6, 2.3e6)]


def test_change_and_level_both_verify(store: FactStore) -> None:
    found = statuses("澜舟科技营收同比增长23.4%至412亿元。", store)
    assert found == {"23.4%": VERIFIED, "412亿元": VERIFIED}


# -- the claim's own precision bounds what it may match ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("澜舟科技服务器业务毛利率约为21%。", "约为21%"),  # 约20% in the source
        ("澜舟科技在手订单约11万台。", "约11万台"),  # 约10万台
        ("澜舟科技员工人数为2.4万人。", "2.4万人"),  # 2.3万人
        ("澜舟科技营业收入为413亿元。", "413亿元"),  # 412亿元
        ("澜舟科技剩余履约义务为1,281亿元。", "1,281亿元"),  # 1,280亿元
    ],
)
def test_a_one_digit_change_is_contradicted_even_near_a_rounded_source(store: FactStore, text: str, span: str) -> None:
    assert status_of(text, span, store) == CONTRADICTED


def test_rounding_within_the_claims_precision_verifies(store: FactStore) -> None:
    assert status_of("澜舟科技营收同比增长约23%。", "约23%", store) == VERIFIED  # 23.4%
    assert status_of("澜舟科技营业收入约410亿元。", "约410亿元", store) == VERIFIED  # 412亿元


def test_a_claim_more_precise_than_its_source_is_not_verified(store: FactStore) -> None:
    assert status_of("澜舟科技服务器业务毛利率为20.3%。", "20.3%", store) == UNSUPPORTED  # 约20%


# -- forms a writer uses for the same figure -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("百分之七十七", 77, "%"),
        ("百分之77", 77, "%"),
        ("百分之四点八", 4.8, "%"),
        ("三成", 30, "%"),
        ("两成半", 25, "%"),
        ("千分之三", 0.3, "%"),
        ("翻番", 2, "x"),
        ("翻一番", 2, "x"),
        ("八个季度", 8, "季度"),
        ("三年", 3, "年"),
        ("一年半", 1.5, "年"),
        ("十万卡", 1e5, "卡"),
        ("万卡", 1e4, "卡"),
        ("4,550亿美元", 4.55e11, "USD"),
        ("0.455万亿美元", 4.55e11, "USD"),
        ("4.55千亿美元", 4.55e11, "USD"),
        ("3.5万元", 3.5e4, "CNY"),
    ],
)
def test_written_forms_are_read(text: str, value: float, unit: str) -> None:
    claims = extract_claims(f"这一数字为{text}。")
    assert len(claims) == 1, claims
    assert claims[0].value == pytest.approx(value)
    assert claims[0].unit == unit


def test_fractions_and_doubling() -> None:
    for text in ("1/3", "三分之一"):
        (c,) = extract_claims(f"份额约为{text}。")
        assert c.value == pytest.approx(100 / 3)
    (c,) = extract_claims("订单增长一倍。")
    assert (c.value, c.unit) == (2, "x")


@pytest.mark.parametrize(
    ("text", "bound"),
    [("约300亿元", "about"), ("近300亿元", "under"), ("逾300亿元", "over"), ("超过300亿元", "over"),
     ("300亿元以上", "over"), ("300亿元左右", "about"), ("300多亿元", "over")],
)
def test_approximations_before_and_after(text: str, bound: str) -> None:
    (c,) = extract_claims(f"公司计划投入{text}。")
    assert (c.value, c.bound, c.approx) == (3e10, bound, True)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("澜舟科技营收同比增长百分之二十三点四。", "百分之二十三点四"),
        ("澜舟科技营业收入为0.0412万亿元。", "0.0412万亿元"),
        ("澜舟科技计划未来三年投入约300亿元建设智算中心。", "三年"),
        ("澜舟科技首期规划十万卡集群。", "十万卡"),
        ("澜舟科技的交付周期为八个季度。", "八个季度"),
        ("澜舟科技员工人数为23,000人。", "23,000人"),
    ],
)
def test_other_forms_of_the_same_figure_verify(store: FactStore, text: str, span: str) -> None:
    assert status_of(text, span, store) == VERIFIED


def test_a_unit_error_is_contradicted(store: FactStore) -> None:
    # % for 个百分点, 亿美元 for 亿元: the same statement in the wrong unit
    assert status_of("北川银行不良贷款率为1.08%，较上年末下降0.05%。", "0.05%", store) == CONTRADICTED
    assert status_of("澜舟科技营业收入为412亿美元。", "412亿美元", store) == CONTRADICTED


# -- the same referent in other words ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "澜舟科技营收较上年同期增长23.4%。",
        "澜舟科技营业收入比去年同期增加23.4%。",
        "据公开资料，澜舟科技去年营收同比增长23.4%。",
        "报告指出，澜舟科技全年收入增长了23.4%。",
    ],
)
def test_other_words_for_year_on_year(store: FactStore, text: str) -> None:
    assert status_of(text, "23.4%", store) == VERIFIED


def test_abbreviation_and_full_name(store: FactStore) -> None:
    assert status_of("澜舟科技的RPO为1,280亿元。", "1,280亿元", store) == VERIFIED
    assert status_of("澜舟科技剩余履约义务达1280亿元。", "1280亿元", store) == VERIFIED


def test_subject_named_in_the_previous_sentence(store: FactStore) -> None:
    assert status_of("澜舟科技公布了年报。其服务器业务收入为310亿元。", "310亿元", store) == VERIFIED


def test_a_growth_rate_is_not_a_share(store: FactStore) -> None:
    # 31% is the server business's growth; as a share it is another statement
    assert status_of("服务器业务占澜舟科技营收的31%。", "31%", store) != VERIFIED


# -- aligning the claim with the clause that states the same thing ------------------------------------


def test_merged_and_reordered_sentences_verify(store: FactStore) -> None:
    found = statuses("澜舟科技412亿元的营收中，服务器业务贡献了310亿元，后者较上年同期增长31%，而归母净利润为36.5亿元。", store)
    assert set(found.values()) == {VERIFIED}, found


def test_a_dropped_year_still_verifies(store: FactStore) -> None:
    assert status_of("澜舟科技归母净利润为36.5亿元，同比增长9%。", "36.5亿元", store) == VERIFIED


def test_a_value_from_another_metric_is_not_verified(store: FactStore) -> None:
    # 9% is the net profit's growth, the revenue grew 23.4%
    assert status_of("澜舟科技营业收入同比增长9%。", "9%", store) == CONTRADICTED
    # 31% belongs to the server business; the company's growth was 23.4%
    assert status_of("澜舟科技全年营收同比增长31%。", "31%", store) != VERIFIED


def test_the_previous_period_is_not_this_one(store: FactStore) -> None:
    assert status_of("澜舟科技2024年营业收入为334亿元。", "334亿元", store) != VERIFIED
    assert status_of("澜舟科技上年同期营业收入为334亿元。", "334亿元", store) == VERIFIED


def test_another_subject_never_borrows_a_figure(store: FactStore) -> None:
    assert status_of("北川银行营业收入为412亿元。", "412亿元", store) != VERIFIED


# -- derived figures --------------------------------------------------------------------------------------


def test_a_growth_rate_is_recomputed_from_two_levels(store: FactStore) -> None:
    report = check_text("澜舟科技营业收入较上年增长约23%。", store)
    (claim,) = report.claims
    assert claim.status == VERIFIED


def test_a_share_is_recomputed_from_part_and_whole(store: FactStore) -> None:
    report = check_text("IaaS市场规模约占公有云市场规模的59.8%。", store)
    (claim,) = report.claims
    assert claim.status == VERIFIED
    (ev,) = claim.evidence
    assert ev.basis == "derived" and "1950亿" in ev.formula.replace(",", "") and "3260亿" in ev.formula
    wrong = check_text("IaaS市场规模约占公有云市场规模的65.8%。", store).claims[0]
    assert wrong.status == CONTRADICTED and wrong.evidence[0].basis == "derived"


def test_derived_evidence_in_the_json_contract(store: FactStore) -> None:
    data = check_text("IaaS市场规模约占公有云市场规模的59.8%。", store).to_json()
    ev = data["claims"][0]["evidence"][0]
    assert ev["basis"] == "derived" and ev["formula"].endswith("%")
    stated = check_text("澜舟科技营业收入为412亿元。", store).to_json()["claims"][0]["evidence"][0]
    assert "basis" not in stated  # stated evidence keeps the old contract


# -- checking a yanbao report -------------------------------------------------------------------------------

REPORT = """---
title: 澜舟科技点评
date: 2025-03-20
---

# 澜舟科技点评

**研究主题**: 澜舟科技
**最大循环次数**: 3

## 要点

澜舟科技营业收入为412亿元。[1]

### Sources:
* 澜舟科技2024年年报（营收412亿元） : https://example.com/lanzhou-2024

## 参考文献

1. 澜舟科技年报，2025年3月18日，第12页

## 数据核验

| 原文 | 规范化数值 | 状态 | 来源与原文摘录 |
| --- | --- | --- | --- |
| 412亿元 | 412亿 CNY | 已核实 | 澜舟科技年报：「全年公司实现营业收入412亿元，同比增长23.4%」 |
"""


def test_metadata_of_a_report_is_not_checked(store: FactStore) -> None:
    report = check_text(REPORT, store)
    assert [c.text for c in report.claims] == ["412亿元"]
    assert report.claims[0].start == REPORT.index("澜舟科技营业收入为412亿元") + len("澜舟科技营业收入为")
    names = [REPORT[a:b].strip().splitlines()[0] for a, b in unchecked_spans(REPORT) if REPORT[a:b].strip()]
    assert any(n.startswith("## 数据核验") for n in names) and any(n.startswith("## 参考文献") for n in names)


def test_yanbao_check_of_a_report_counts_only_its_body(tmp_path: Path) -> None:
    src = tmp_path / "sources"
    src.mkdir()
    (src / "lanzhou.md").write_text("---\ntitle: 澜舟科技年报\nurl: https://example.com/lanzhou-2024\n---\n\n" + SOURCE,
                                    encoding="utf-8")
    report = tmp_path / "report.md"
    report.write_text(REPORT, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.app", "check", str(report), "--sources", str(src),
         "--facts", str(tmp_path / "f.db"), "--json", "--strict"],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["summary"] == {"verified": 1, "contradicted": 0, "unsupported": 0}


# -- second round: forms and referents found on the dev half (own sentences and figures) ---------------

RETAIL = (
    "青禾零售8月20日发布2025年半年报。上半年公司营业收入为96.4亿元，同比增长百分之十二点五；"
    "销售费用率为18.2%，同比下降0.8个百分点。截至6月底，公司在营门店为3,214家，会员人数为4,560万。"
    "报告期内，加权平均净资产收益率为6.3%，同比提高0.4个百分点。"
    "全年储能电池出货量为12.4吉瓦时。截至6月末，青禾零售自有配送车队规模为870辆。"
    "在96.4亿元的营业收入中，生鲜业务收入为41.2亿元。"
)


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "retail", RETAIL, "青禾零售半年报", "https://example.com/qinghe-2025h1")


def test_a_decimal_written_in_chinese_numerals_is_not_a_referent(retail: FactStore) -> None:
    # "百分之十二点五": 点五 is part of the number, so the rate takes the metric of the clause before
    assert status_of("青禾零售上半年营收增至96.4亿元，增幅为百分之十二点五。", "百分之十二点五", retail) == VERIFIED


def test_a_comparison_with_gao_or_di_is_a_change(retail: FactStore) -> None:
    text = "青禾零售销售费用率降至18.2%，比去年同期低0.8个百分点。"
    assert status_of(text, "0.8个百分点", retail) == VERIFIED
    assert status_of("青禾零售销售费用率降至18.2%，比去年同期低0.6个百分点。", "0.6个百分点", retail) == CONTRADICTED


def test_a_count_in_the_claim_matches_a_bare_figure_in_the_source(retail: FactStore) -> None:
    # the source says "会员人数为4,560万" without 人: the same value verifies, another one does not
    assert status_of("青禾零售会员人数达到4560万人。", "4560万人", retail) == VERIFIED
    assert status_of("青禾零售会员人数达到4580万人。", "4580万人", retail) != VERIFIED


def test_a_percent_after_a_comma_does_not_become_the_unit_of_a_count() -> None:
    claims = extract_claims("会员人数已超过4,560万，约30%的订单来自会员。")
    assert claims[0].unit == "" and claims[0].value == 45_600_000


def test_gigawatt_hours_written_in_chinese(retail: FactStore) -> None:
    assert status_of("青禾零售全年储能电池出货量为12.4GWh。", "12.4GWh", retail) == VERIFIED
    assert status_of("青禾零售全年储能电池出货量为12.4兆瓦时。", "12.4兆瓦时", retail) == CONTRADICTED


def test_a_standard_metric_by_its_abbreviation(retail: FactStore) -> None:
    text = "青禾零售ROE提高0.4个百分点至6.3%。"
    assert status_of(text, "0.4个百分点", retail) == VERIFIED
    assert status_of(text, "6.3%", retail) == VERIFIED


def test_words_of_time_are_not_the_subject(retail: FactStore) -> None:
    assert status_of("截至6月底，青禾零售旗下在营门店数量为3214家。", "3214家", retail) == VERIFIED


def test_a_demonstrative_subject_refers_back(retail: FactStore) -> None:
    assert status_of("截至6月末，该零售商共有870辆配送车。", "870辆", retail) == VERIFIED


def test_the_words_after_a_total_are_the_subjects_of_its_parts(retail: FactStore) -> None:
    text = "在96.4亿元的营收中，生鲜业务贡献41.2亿元。"
    assert status_of(text, "96.4亿元", retail) == VERIFIED
    assert status_of(text, "41.2亿元", retail) == VERIFIED


STEEL = "东岭钢铁发布2024年年报。全年钢产量为3,082万吨，同比减少2.4%；商品材销量为2,967万吨。财富管理业务收入104.6亿元，同比下降2.1%。"


@pytest.fixture(scope="module")
def steel(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "steel", STEEL, "东岭钢铁年报", "https://example.com/dongling-2024")


def test_a_metric_written_with_its_characters_reordered(steel: FactStore) -> None:
    # 产钢 for 钢产量: no shared word, the same characters; a specific figure finds its statement by value
    text = "全年产钢3082万吨，比上年减少2.4%。"
    assert status_of(text, "3082万吨", steel) == VERIFIED
    assert status_of(text, "2.4%", steel) == VERIFIED
    # reordered characters align weakly: they verify the same figure but never contradict another
    assert status_of("全年产钢3182万吨。", "3182万吨", steel) == UNSUPPORTED


def test_an_adverb_of_change_is_not_the_metric(steel: FactStore) -> None:
    # "同比微降2.1%": 微降 says how, so the rate is about the clause before it
    assert status_of("财富管理收入104.6亿元，同比微降2.1%。", "2.1%", steel) == VERIFIED


POST = (
    "据行业统计，2025年前三季度全国同城配送订单量为412.5亿单，同比增长16.2%；同城配送收入3,180亿元，"
    "首次在前三季度突破三千亿元，同比增长7.4%。蓝鲸美妆上半年营业收入为48.2亿元，其中主品牌收入31.6亿元，"
    "占比约65.6%。公司研发投入1.2亿元，占营收的2.5%。"
)


@pytest.fixture(scope="module")
def post(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "post", POST, "同城配送与美妆", "https://example.com/post-2025")


def test_a_rate_after_an_aside_belongs_to_the_metric_before_it(post: FactStore) -> None:
    # "…收入3,180亿元，首次…突破三千亿元，同比增长7.4%": the rate is the revenue's, not the orders'
    assert status_of("全国同城配送收入前三季度同比增长7.4%至3,180亿元。", "7.4%", post) == VERIFIED
    # and the orders' rate said of the revenue is a wrong figure for the revenue
    assert status_of("全国同城配送收入前三季度同比增长16.2%至3,180亿元。", "16.2%", post) == CONTRADICTED


def test_a_share_of_a_part_is_not_another_parts_share(post: FactStore) -> None:
    # 研发投入占营收的2.5% is not contradicted by 主品牌收入占比约65.6%
    assert status_of("蓝鲸美妆上半年研发投入1.2亿元，占营收的2.5%。", "2.5%", post) != CONTRADICTED


RESULTS = (
    "海岚航运发布2025年半年报。上半年公司营收186.2亿元，归母净利润31.4亿元，分别同比增长14.6%和38.2%；"
    "第三季度归母净利润为9.8亿元，较二季度增长6.4%。截至6月末，公司船员为8,420人，比上年末减少7%。"
    "净息差为1.64%，较上半年收窄2个基点，较上年全年下降11个基点。董事会宣派中期股息每股0.21港元。"
    "集装箱运输收入为96.5亿元，环比增长4.1%，同比增长12.2%；散货运输收入41.3亿元，同比增长近两成。"
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "results", RESULTS, "海岚航运半年报", "https://example.com/hailan-2025h1")


def test_a_list_of_rates_answers_the_figures_before_it(results: FactStore) -> None:
    text = "海岚航运上半年营收186.2亿元，归母净利润31.4亿元，同比分别增长14.6%和38.2%。"
    assert status_of(text, "14.6%", results) == VERIFIED
    assert status_of(text, "38.2%", results) == VERIFIED
    swapped = "海岚航运上半年营收186.2亿元，归母净利润31.4亿元，同比分别增长38.2%和14.6%。"
    assert status_of(swapped, "38.2%", results) != VERIFIED


def test_a_named_earlier_quarter_is_a_sequential_basis(results: FactStore) -> None:
    assert status_of("海岚航运第三季度归母净利润较二季度增长6.4%，达到9.8亿元。", "6.4%", results) == VERIFIED
    # 较上半年 (sequential) and 较上年全年 (annual) are two bases: each figure keeps its own
    assert status_of("海岚航运净息差为1.64%，比上年全年收窄11个基点。", "11个基点", results) == VERIFIED


def test_a_year_end_basis(results: FactStore) -> None:
    assert status_of("截至6月末，海岚航运船员为8420人，比上年末少7%。", "7%", results) == VERIFIED


def test_a_currency_named_before_a_bare_yuan() -> None:
    claims = extract_claims("董事会宣布派发中期股息每股港币0.21元。")
    assert [(c.value, c.unit) for c in claims] == [(0.21, "HKD")]


def test_another_known_metric_never_verifies(results: FactStore) -> None:
    # 12.2% is the container revenue's growth: said of net profit it is not verified
    assert status_of("海岚航运集装箱运输净利润同比增长12.2%。", "12.2%", results) != VERIFIED


CLOUD_Q = (
    "腾讯2026财年第一财季资本支出为118亿美元，同比增长31%；智算云业务营收为146亿美元，同比增长24%，"
    "其中Nova及其他云服务收入同比增长35%。2025年第三季度全球服务器出货量为362万台，同比增长9.1%；"
    "其中，联想出货88万台，同比增长15.2%。"
)


@pytest.fixture(scope="module")
def cloud_q(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "cloudq", CLOUD_Q, "云财报与服务器市场（虚构数字）", "https://example.com/xingqiong-q1")


def test_a_name_after_the_number_is_not_its_subject(cloud_q: FactStore) -> None:
    # "…；智算云业务营收为146亿美元，…其中Nova…": the revenue is 腾讯's (the sentence before), not Nova's
    text = "腾讯智算云营收录得146亿美元，同比增幅24%。"
    assert status_of(text, "146亿美元", cloud_q) == VERIFIED
    assert status_of(text, "24%", cloud_q) == VERIFIED


def test_a_companys_figure_does_not_outrank_the_market_total(cloud_q: FactStore) -> None:
    assert status_of("三季度全球服务器出货量达到362万台，较上年同期增长9.1%。", "362万台", cloud_q) == VERIFIED
    assert status_of("三季度全球服务器出货量达到362万台，较上年同期增长9.1%。", "9.1%", cloud_q) == VERIFIED


PHONES = (
    "2025年第三季度全球智能手机出货量为3.05亿部，同比增长2.1%。"
    "分厂商看，苹果以5,540万部位居第一，份额为18.2%；三星出货5,310万部，份额为17.4%。"
    "美光以76亿美元排名第三，份额为21.5%。"
)


@pytest.fixture(scope="module")
def phones(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "phones", PHONES, "手机市场（虚构数字）", "https://example.com/phones-q3")


def test_the_claims_own_company_outranks_the_market_total(phones: FactStore) -> None:
    # "苹果以5,540万部位居第一" names no metric but names 苹果: the total (3.05亿部) does not outrank it
    assert status_of("苹果三季度智能手机出货量为5540万部。", "5540万部", phones) == VERIFIED
    assert status_of("苹果三季度智能手机出货量为5640万部。", "5640万部", phones) != VERIFIED


GROWTH = (
    "2025年第三季度全球平板电脑出货量为3,860万台，同比增长6.7%，连续第四个季度实现同比增长。"
    "其中，交换机产品收入为41.5亿美元，同比增长126%；存储产品收入为18.2亿美元，是上年同期的2.3倍。"
)


@pytest.fixture(scope="module")
def growth(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "growth", GROWTH, "增长（虚构数字）", "https://example.com/growth")


def test_a_multiple_and_a_growth_rate_state_one_growth(growth: FactStore) -> None:
    assert status_of("交换机产品收入较上年同期增长超过一倍。", "超过一倍", growth) == VERIFIED
    assert status_of("存储产品收入同比增长130%。", "130%", growth) == VERIFIED
    # read in the other form, a different figure is never called contradicted
    assert status_of("存储产品收入同比增长160%。", "160%", growth) != CONTRADICTED


def test_a_rate_whose_metric_is_in_the_clause_before(growth: FactStore) -> None:
    text = "全球平板电脑出货量已连续四个季度同比增长，三季度增幅为百分之六点七。"
    assert status_of(text, "百分之六点七", growth) == VERIFIED


PERIODS = (
    "启明汽车2025年年报显示，全年归母净利润为12.4亿元，上年为亏损8.6亿元。"
    "旗下助手“启言”9月月活跃用户数为3,100万，环比增长12%。"
    "对于2026财年第三财季，公司预计营收为86亿美元。"
    "二季度储能收入约0.62亿元，为一季度的1.4倍。"
)


@pytest.fixture(scope="module")
def periods(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "periods", PERIODS, "时间（虚构数字）", "https://example.com/periods")


def test_the_year_before_said_with_two_words(periods: FactStore) -> None:
    assert status_of("启明汽车去年归母净利润为12.4亿元，而2024年亏损8.6亿元。", "8.6亿元", periods) == VERIFIED


def test_a_month_after_bi_is_the_base(periods: FactStore) -> None:
    assert status_of("9月，启言的月活跃用户达到3100万人，比8月增长12%。", "12%", periods) == VERIFIED


def test_next_quarter_is_not_the_first(periods: FactStore) -> None:
    assert status_of("启明汽车预计下一财季营收为86亿美元。", "86亿美元", periods) == VERIFIED


def test_the_quarter_a_multiple_compares_with(periods: FactStore) -> None:
    assert status_of("二季度储能收入约6,200万元，是上一季度的1.4倍。", "1.4倍", periods) == VERIFIED


SIGNED = "截至9月末，公司合同负债为38.2亿元，较年初增长21%；三季度营收环比增长6.3%，同比增长约38%。"


def test_signed_figures_after_a_basis_and_the_nearest_basis(tmp_path: Path) -> None:
    s = FactStore(tmp_path / "facts.db")
    s.import_text(SIGNED, title="符号（虚构数字）", url="https://example.com/signed")
    assert status_of("合同负债38.2亿元（较年初+21%）。", "+21%", s) == VERIFIED
    assert status_of("三季度营收环比增长6.3%、同比增长约38%。", "约38%", s) == VERIFIED


ANON = "据公开资料，博远数据的员工人数达到1,816名。据行业统计，某头部厂商的服务器出货量为12.4万台。"


def test_an_unnamed_company_is_nobody_the_store_can_name(tmp_path: Path) -> None:
    s = FactStore(tmp_path / "facts.db")
    s.import_text(ANON, title="匿名（虚构数字）", url="https://example.com/anon")
    # the lead-in "据公开资料，" is who says it, not whom it is about: another company is not contradicted
    assert status_of("据公开资料，某新兴公司的员工人数达到6,707名。", "6,707名", s) == UNSUPPORTED
    # an unnamed subject matches only a statement about the same unnamed subject
    assert status_of("某头部厂商的服务器出货量为12.4万台。", "12.4万台", s) == VERIFIED
    assert status_of("某新锐厂商的服务器出货量为12.4万台。", "12.4万台", s) == UNSUPPORTED


# -- forms of one figure: ordinals of a run, 亿度, 放缓, a rise in 倍, dividends per ten shares ----------

FORMS = (
    "远航船舶2025年年报显示，公司新接订单量已连续第三年增长，第三季度交付12艘。"
    "全年集团用电量约为4.8亿千瓦时，同比增长约6%。"
    "海工装备收入增速较上半年放缓2.4个百分点。修船业务收入是上年的2.6倍。"
    "公司拟每10股派发现金红利3.6元。"
)


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "forms", FORMS, "写法（虚构数字）", "https://example.com/forms")


def test_the_nth_of_a_run_is_a_duration_and_other_ordinals_are_not() -> None:
    found = [(c.text, c.value, c.unit) for c in extract_claims("新接订单量已连续第三年增长，连续第8个季度盈利，排名第二，第三季度交付12艘。")]
    assert found == [("三年", 3.0, "年"), ("8个季度", 8.0, "季度"), ("12艘", 12.0, "艘")]


def test_a_run_said_as_its_nth_verifies_the_count(forms: FactStore) -> None:
    assert status_of("远航船舶的新接订单量已经连续三年增长。", "三年", forms) == VERIFIED
    assert status_of("远航船舶的新接订单量已经连续四年增长。", "四年", forms) == CONTRADICTED


def test_yi_du_is_kilowatt_hours_and_a_bare_du_is_not_a_unit(forms: FactStore) -> None:
    assert [(c.text, c.unit) for c in extract_claims("全年用电量约4.8亿度，车间温度为26度。")] == [("约4.8亿度", "度电")]
    assert status_of("远航船舶全年用电量约4.8亿度。", "约4.8亿度", forms) == VERIFIED
    assert status_of("远航船舶全年用电量约5.8亿度。", "约5.8亿度", forms) == CONTRADICTED


def test_slowing_is_a_fall_of_the_rate(forms: FactStore) -> None:
    assert status_of("海工装备收入增速比上半年回落了2.4个百分点。", "2.4个百分点", forms) == VERIFIED
    assert status_of("海工装备收入增速比上半年加快了2.4个百分点。", "2.4个百分点", forms) != VERIFIED


def test_a_rise_of_m_times_is_m_plus_one_times_the_earlier_level(forms: FactStore) -> None:
    assert status_of("修船业务收入较上年增长了1.6倍。", "1.6倍", forms) == VERIFIED
    # "增长了2.6倍" may be a writer's 2.6 times the level: not verified, never contradicted
    assert status_of("修船业务收入较上年增长了2.6倍。", "2.6倍", forms) == UNSUPPORTED
    assert status_of("修船业务收入是上年的3.6倍。", "3.6倍", forms) == CONTRADICTED


def test_a_dividend_per_ten_shares_restated_per_share(forms: FactStore) -> None:
    assert status_of("远航船舶拟每股派发现金红利0.36元。", "0.36元", forms) == VERIFIED
    assert status_of("远航船舶拟每股派发现金红利3.6元。", "3.6元", forms) != VERIFIED


# -- earlier levels and remainders, recomputed (and never contradicted by the later level) -------------

EARLIER = (
    "青禾教育前三季度营收27.45亿元，同比增长32.8%。其中学习机等智能硬件收入9.8亿元，是上年同期的2.1倍。"
    "截至9月末，公司自营校区为138所，较年初净增12所。三季度App人均单日使用时长为41.5分钟，较二季度增加3.5分钟。"
    "全年学习机出货量为126万台，其中线上渠道出货83万台，企业渠道出货15万台。"
)


def claim_of(text: str, span: str, store: FactStore):  # noqa: ANN201 (a CheckedClaim)
    found = {c.text: c for c in check_text(text, store).claims}
    assert span in found, (span, found)
    return found[span]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "earlier", EARLIER, "推算（虚构数字）", "https://example.com/earlier")


def test_last_years_level_from_a_level_and_its_growth(earlier: FactStore) -> None:
    right = claim_of("据此推算，青禾教育上年同期营收约为20.7亿元。", "约为20.7亿元", earlier)
    assert right.status == VERIFIED and right.evidence[0].basis == "derived"
    assert "27.45亿" in right.evidence[0].formula and "32.8%" in right.evidence[0].formula
    # the later level is not last year's: never its contradiction; the recomputed one is
    wrong = claim_of("据此推算，青禾教育上年同期营收约为16.5亿元。", "约为16.5亿元", earlier)
    assert wrong.status == CONTRADICTED and wrong.evidence[0].basis == "derived"


def test_last_years_level_from_a_multiple(earlier: FactStore) -> None:
    assert status_of("以此计算，智能硬件上年同期收入约为4.7亿元。", "约为4.7亿元", earlier) == VERIFIED
    assert status_of("以此计算，智能硬件上年同期收入约为4.2亿元。", "约为4.2亿元", earlier) == CONTRADICTED


def test_a_level_at_the_start_of_the_year_from_the_net_change(earlier: FactStore) -> None:
    assert status_of("年初时青禾教育的自营校区为126所。", "126所", earlier) == VERIFIED
    assert status_of("年初时青禾教育的自营校区为138所。", "138所", earlier) == CONTRADICTED


def test_the_quarter_a_change_is_measured_from(earlier: FactStore) -> None:
    assert status_of("二季度App人均单日使用时长为38分钟。", "38分钟", earlier) == VERIFIED
    assert status_of("二季度App人均单日使用时长为41.5分钟。", "41.5分钟", earlier) == CONTRADICTED


def test_what_is_left_of_a_whole(earlier: FactStore) -> None:
    assert status_of("线上渠道以外的学习机出货量为43万台。", "43万台", earlier) == VERIFIED
    assert status_of("除线上渠道和企业渠道外，其余学习机出货量为28万台。", "28万台", earlier) == VERIFIED
    # a remainder may leave out more than the parts stated: a wrong one is never contradicted
    assert status_of("除线上渠道外，其余学习机出货量为50万台。", "50万台", earlier) == UNSUPPORTED


def test_a_comparison_with_last_year_is_not_last_years_level() -> None:
    from pipeline.facts.referents import TextReferents

    for text, figure, prev in (
        ("去年同期全网GMV约为1.14万亿元。", "约为1.14万亿元", True),
        ("与去年同期相比，营收为12亿元。", "12亿元", False),
        ("与去年同期相比营收为12亿元。", "12亿元", False),
        ("外卖订单占比从去年同期的三成左右升至近45%。", "近45%", False),  # the new level, not last year's
    ):
        at = text.find(figure)
        assert ("prev" in TextReferents(text).referent(at, at + len(figure), "cny").times) is prev, text


# -- a clause of a basis and a verb only, and other ways of saying "than last year" --------------------

LAST_YEAR = (
    "2025年，恒川轮胎全年轮胎销量为8,260万条，同比增长11.5%；营业收入为312亿元，同比下降7.3%。"
    "第三季度单季净利润为6.2亿元，同比增长8.4%。2024年公司新签订单同比下降18.7%。"
)


@pytest.fixture(scope="module")
def last_year(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "last_year", LAST_YEAR, "比较（虚构数字）", "https://example.com/last-year")


def test_a_clause_of_only_a_basis_and_a_verb_is_about_the_clause_before(last_year: FactStore) -> None:
    assert status_of("恒川轮胎三季度单季净利润为6.2亿元，比上年同期仅多8.4%。", "8.4%", last_year) == VERIFIED
    assert status_of("恒川轮胎去年收入为312亿元，比上一年少了7.3%。", "7.3%", last_year) == VERIFIED
    assert status_of("恒川轮胎全年卖出轮胎8260万条，比前一年多卖了11.5%。", "11.5%", last_year) == VERIFIED
    assert status_of("恒川轮胎全年卖出轮胎8260万条，比前一年多卖了12.5%。", "12.5%", last_year) == CONTRADICTED


def test_a_year_right_before_a_figure_is_its_own_year_not_a_base(last_year: FactStore) -> None:
    text = "与2024年18.7%的降幅相比，恒川轮胎新签订单的下滑幅度已明显缩小。"
    assert status_of(text, "18.7%", last_year) == VERIFIED


# -- a part the claim names, and an amount per day ----------------------------------------------------

PARTS = (
    "截至9月末，北岭风电在手订单合计48.9GW，创历史新高，其中海外订单9.3GW，较年初增加2.1GW。"
    "上半年北岭高速实现营业收入52.6亿元，其中通行费收入38.4亿元；上半年日均通行费收入约2,122万元。"
)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    return one_source(tmp_path_factory, "parts", PARTS, "部分（虚构数字）", "https://example.com/parts")


def test_the_whole_does_not_outrank_the_part_the_claim_names(parts: FactStore) -> None:
    assert status_of("北岭风电海外在手订单为9.3GW。", "9.3GW", parts) == VERIFIED
    assert status_of("北岭风电海外在手订单为9.8GW。", "9.8GW", parts) != VERIFIED


def test_a_named_part_keeps_its_rivals_from_other_sentences(tmp_path: Path) -> None:
    s = FactStore(tmp_path / "facts.db")
    s.import_text(PARTS, title="部分（虚构数字）", url="https://example.com/parts")
    s.import_text("截至9月末，北岭风电海外在手订单为12.6GW，较年初增加5.4GW。", title="另一份", url="https://example.com/other")
    # only the whole of the part's own sentence stands aside: the other source still outranks
    assert status_of("截至9月末，北岭风电海外在手订单为9.3GW。", "9.3GW", s) != VERIFIED


def test_a_daily_average_is_not_contradicted_by_the_periods_total(parts: FactStore) -> None:
    assert status_of("上半年北岭高速每天的通行费收入在2122万元左右。", "2122万元左右", parts) == VERIFIED
    # a wrong daily figure is contradicted by the daily average, never by the half year's total
    wrong = claim_of("上半年北岭高速每天的通行费收入在2500万元左右。", "2500万元左右", parts)
    assert wrong.status == CONTRADICTED and [e.value for e in wrong.evidence] == [21_220_000]


def test_period_words_of_a_stock() -> None:
    """年中 only as a word of its own (not in 2024年中国, 2024年中标, 2025年中东); N月末 is a period's end."""
    from pipeline.facts.referents import TextReferents

    for text, figure, period in (
        ("2024年中国数据中心用电量约为1,660亿千瓦时。", "约为1,660亿千瓦时", set()),
        ("2024年中标金额为30亿元。", "30亿元", set()),
        ("2025年中东市场收入为12亿元。", "12亿元", set()),
        ("截至年中，公司共控制船舶208艘。", "208艘", {"p:mid"}),
        ("截至9月末，公司门店总数为4,218家。", "4,218家", {"p:end"}),
    ):
        at = text.find(figure)
        times = TextReferents(text).referent(at, at + len(figure), "").times
        assert {t for t in times if t.startswith("p:")} == period, text


def test_a_figure_in_brackets_does_not_outrank_the_one_that_agrees(tmp_path: Path) -> None:
    s = FactStore(tmp_path / "facts.db")
    s.import_text(
        "澄观智能完成7.5亿美元C轮融资。本轮投后估值达到52亿美元，约为一年半前B轮估值（15亿美元）的3.5倍。",
        title="估值（虚构数字）", url="https://example.com/valuation",
    )
    assert status_of("此轮融资后，该公司估值升至52亿美元，是B轮时的3.5倍左右。", "52亿美元", s) == VERIFIED
    # the bracketed figure still says what the earlier round was worth
    assert status_of("澄观智能B轮估值为18亿美元。", "18亿美元", s) == CONTRADICTED


def test_an_earlier_level_uses_its_own_metrics_change_and_a_remainder_its_named_parts(tmp_path: Path) -> None:
    s = FactStore(tmp_path / "facts.db")
    s.import_text("青禾教育前三季度实现营收27.45亿元，归母净利润3.2亿元，同比增长10%。", title="t", url="https://example.com/a")
    s.import_text("全年学习机出货量为126万台，其中线上渠道出货83万台，企业渠道出货15万台。", title="t", url="https://example.com/b")
    # the 10% is the profit's growth: it says nothing of last year's revenue
    assert status_of("青禾教育上年同期营收约为24.95亿元。", "约为24.95亿元", s) == UNSUPPORTED
    assert status_of("青禾教育上年同期营收约为20.7亿元。", "约为20.7亿元", s) == UNSUPPORTED
    # what is left out must be the part the claim names, not any difference of the sentence's figures
    assert status_of("线上渠道以外的学习机出货量为111万台。", "111万台", s) == UNSUPPORTED
    assert status_of("除线上渠道外，其余学习机出货量为68万台。", "68万台", s) == UNSUPPORTED
    assert status_of("线上渠道以外的学习机出货量为43万台。", "43万台", s) == VERIFIED


def test_readings_that_must_not_change_a_figure(tmp_path: Path) -> None:
    cases = (
        # 2023 is the base of "较2023年3月", not the year of the 25%
        ("2024年3月，星河汽车销量为10万辆，较2023年3月增长25%。", "2024年3月，星河汽车销量同比增长25%。", "25%", VERIFIED),
        # a multiple of another company is no rise over last year
        ("星河电池的产能是宁德时代的2.6倍。", "星河电池的产能较上年增长了1.6倍。", "1.6倍", UNSUPPORTED),
        # 至少卖出 is no change
        ("星河汽车今年销量为120万台，同比增加20万台。", "星河汽车今年至少卖出120万台。", "120万台", VERIFIED),
        # 年末 said of the sentence stays its period when the from-level has none of its own
        ("2025年末，星河银行员工总数由9,860人减少至8,720人。", "2025年初，星河银行员工总数为8,720人。", "8,720人", UNSUPPORTED),
        # 预期之外的 leaves nothing out
        ("星河科技2025年营收为200亿元。", "星河科技2025年营收实现了预期之外的增长，达到200亿元。", "200亿元", VERIFIED),
        # a daily average after 全年 is still a daily average
        ("2025年全年，星河高速通行费收入为73亿元。", "2025年全年，星河高速日均通行费收入为2,000万元。", "2,000万元", UNSUPPORTED),
    )
    assert_pairs(tmp_path, cases)


def test_second_review_sentence_pairs(tmp_path: Path) -> None:
    """Pairs a second review found answered wrongly; each source imported into a store of its own."""
    cases = (
        # an earlier level: only the level's own change, and only for the same known metric
        ("青禾教育前三季度实现营收27.45亿元，归母净利润同比增长10%。", "青禾教育上年同期营收约为24.95亿元。", "约为24.95亿元", UNSUPPORTED),
        ("青禾教育前三季度实现营收27.45亿元，毛利率为42%，同比提升10%。", "青禾教育上年同期营收约为24.95亿元。", "约为24.95亿元", UNSUPPORTED),
        # (the profit's own level and growth give 2.9亿: 20.67亿 is the revenue's, and wrong for profit)
        ("青禾教育前三季度实现营收27.45亿元，同比增长32.8%，归母净利润3.2亿元，同比增长10%。",
         "青禾教育上年同期归母净利润约为20.67亿元。", "约为20.67亿元", CONTRADICTED),
        ("青禾教育前三季度实现营收27.45亿元，同比增长32.8%，归母净利润3.2亿元，同比增长10%。",
         "青禾教育上年同期归母净利润约为2.9亿元。", "约为2.9亿元", VERIFIED),
        # the year right before a figure is that figure's own
        ("星河汽车2024年销量为860辆，较2023年720辆增长19%。", "2024年星河汽车销量为720辆。", "720辆", CONTRADICTED),
        ("星河汽车2024年销量为860辆，较2023年720辆增长19%。", "2024年星河汽车销量同比增长19%。", "19%", VERIFIED),
        # a remainder: of a whole, not of a sibling; an item named in full
        ("2025年，星河家电空调出货量为90万台，冰箱出货量为30万台。", "2025年，除冰箱外，星河家电其余产品出货量为60万台。", "60万台", UNSUPPORTED),
        ("北岭风电在手订单合计48.9GW，其中陆上风电订单30GW。", "海上风电以外的北岭风电在手订单为18.9GW。", "18.9GW", UNSUPPORTED),
        # a multiple of someone else's last year is no rise
        ("星河电池的产能是宁德时代去年的2.6倍。", "星河电池的产能较上年增长了1.6倍。", "1.6倍", UNSUPPORTED),
        # the new level after 由年初的… is not at the start of the year; 年初以来 is no period of it
        # (at 年初 there were 9,860)
        ("星河银行员工总数由年初的9,860人减少至8,720人。", "年初星河银行员工总数为8,720人。", "8,720人", CONTRADICTED),
        ("年初以来，星河银行员工总数由9,860人减少至8,720人。", "截至9月末，星河银行员工总数为8,720人。", "8,720人", VERIFIED),
        # a daily average does not verify a total of the same value
        ("2025年全年，星河高速日均通行费收入为2,000万元。", "2025年全年，星河高速通行费收入为2,000万元。", "2,000万元", UNSUPPORTED),
        # 计划之外的 leaves nothing out
        ("星河科技2025年营收为200亿元。", "星河科技2025年营收实现了计划之外的增长，达到200亿元。", "200亿元", VERIFIED),
    )
    assert_pairs(tmp_path, cases)


def test_the_whole_just_before_a_part_and_not_any_earlier_figure(tmp_path: Path) -> None:
    s = FactStore(tmp_path / "facts.db")
    s.import_text(
        "截至9月末，北岭风电海外在手订单为12.6GW，较年初增加5.4GW。"
        "截至9月末，北岭风电在手订单合计48.9GW，创历史新高，其中海外订单9.3GW，较年初增加2.1GW。",
        title="t", url="https://example.com/one",
    )
    # the 12.6GW of the sentence before is no whole of the part: it stays a rival
    assert status_of("截至9月末，北岭风电海外在手订单为9.3GW。", "9.3GW", s) != VERIFIED


def test_third_review_sentence_pairs(tmp_path: Path) -> None:
    """Pairs an analyst's probe found answered wrongly; each source imported into a store of its own."""
    profit = "远航物流2024年营业收入142.8亿元，同比增长8.7%；净利润9.36亿元，同比增长21.4%。"
    cases = (
        # the claim names the part, and gives the whole's value
        ("2024年北岭风电新签订单合计48.9GW，其中海外订单9.3GW。", "2024年北岭风电新签海外订单48.9GW。", "48.9GW", CONTRADICTED),
        # two known metrics never align, however alike a half-restatement is to the whole sentence
        (profit, "远航物流2024年净利润同比增长8.7%。", "8.7%", CONTRADICTED),
        (profit, "远航物流2024年净利润为9.36亿元，同比增长21.4%。", "9.36亿元", VERIFIED),
        # a clause that names its own province is about it: 江苏 stated 128.6万辆
        ("2024年江苏省新能源汽车产量为128.6万辆，广东省为253.7万辆。", "2024年江苏省新能源汽车产量为253.7万辆。", "253.7万辆", CONTRADICTED),
        # last year's level, said with 上年前三季度 or 上年同期, is not contradicted by this year's
        ("星河食品前三季度营收132.6亿元，同比增长10.2%。", "星河食品上年前三季度营收约120.3亿元。", "约120.3亿元", VERIFIED),
        ("金穗食品前三季度实现营收27.45亿元，同比增长32.8%。", "金穗食品上年同期营收约20.67亿元。", "约20.67亿元", VERIFIED),
    )
    assert_pairs(tmp_path, cases)
