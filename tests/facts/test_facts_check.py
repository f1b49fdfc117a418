"""Matching: verified, contradicted, unsupported — restatements, unrelated equal values, changed digits."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.facts.check import (
    CONTRADICTED,
    UNSUPPORTED,
    VERIFIED,
    check_text,
    format_value,
    mark_contradicted,
)
from pipeline.facts.store import FactStore

SOURCES = {
    "https://example.com/oracle-q1": (
        "甲骨文财报",
        "甲骨文（Oracle）公布了新一季财报：截至2025年8月31日，剩余履约义务（RPO）达到4550亿美元，"
        "同比增长359%。云基础设施收入为33亿美元，同比增长55%。",
    ),
    "https://example.com/bytedance": (
        "字节跳动芯片预算",
        "据媒体报道，字节跳动计划在2026年投入1000亿元人民币采购英伟达AI芯片。",
    ),
    "https://example.com/cambricon": (
        "寒武纪年报",
        "寒武纪全年营收为333.98亿元人民币，净利润为52.1亿元，毛利率为56.7%。",
    ),
    "https://example.com/blackwell": (
        "Blackwell 测试",
        "基准测试显示，Blackwell架构的训练速度提升2.2-4.5倍，单卡功耗为1000W。",
    ),
    "https://example.com/port": (
        "港口统计",
        "宁波港的年货物吞吐量为13.2亿吨，集装箱吞吐量为3530万标箱。",
    ),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FactStore:
    s = FactStore(tmp_path_factory.mktemp("facts") / "facts.db")
    for url, (title, text) in SOURCES.items():
        s.import_text(text, title=title, url=url)
    curated = tmp_path_factory.mktemp("curated") / "facts.yaml"
    curated.write_text(
        "facts:\n"
        "  - entity: 微软\n    metric: 资本开支\n    value: 880\n    unit: 亿美元\n    as_of: 2025\n"
        "    source: https://example.com/msft-capex\n    aliases: [Microsoft, capex]\n",
        encoding="utf-8",
    )
    s.load_curated(curated)
    return s


def status_of(text: str, store: FactStore, claim_text: str | None = None) -> str:
    report = check_text(text, store)
    claims = [c for c in report.claims if claim_text is None or c.text == claim_text]
    assert len(claims) == 1, [c.text for c in report.claims]
    return claims[0].status


@pytest.mark.parametrize(
    ("sentence", "claim"),
    [
        ("甲骨文的RPO约4550亿美元。", "约4550亿美元"),
        ("甲骨文的剩余履约义务为4550亿美元。", "4550亿美元"),
        ("Oracle的RPO达到4.55千亿美元。", "4.55千亿美元"),
        ("Oracle的RPO达到$455B。", "$455B"),
        ("甲骨文的RPO超过4000亿美元。", "超过4000亿美元"),
        ("甲骨文RPO同比增长359%。", "359%"),
        ("寒武纪营收为333.98亿元。", "333.98亿元"),
        ("寒武纪营收约334亿元。", "约334亿元"),
        ("寒武纪全年营收333.98亿元人民币。", "333.98亿元人民币"),
        ("Blackwell的训练速度提升了2.2–4.5倍。", "2.2–4.5倍"),
        ("字节跳动2026年将用1000亿元人民币采购英伟达芯片。", "1000亿元人民币"),
        ("微软2025年的资本开支为880亿美元。", "880亿美元"),
        ("Microsoft的capex约880亿美元。", "约880亿美元"),
        ("甲骨文RPO为4550亿。", "4550亿"),  # no currency written: still the same figure
    ],
)
def test_restatements_verify(store: FactStore, sentence: str, claim: str) -> None:
    assert status_of(sentence, store, claim) == VERIFIED


@pytest.mark.parametrize(
    ("sentence", "claim"),
    [
        ("甲骨文RPO为4560亿美元。", "4560亿美元"),  # one digit changed
        ("甲骨文的剩余履约义务为4450亿美元。", "4450亿美元"),
        ("甲骨文RPO同比增长395%。", "395%"),
        ("寒武纪营收为338.98亿元。", "338.98亿元"),
        ("字节跳动计划投入1200亿元人民币采购英伟达芯片。", "1200亿元人民币"),
        ("微软的资本开支为800亿美元。", "800亿美元"),
        ("Blackwell的训练速度提升了5-8倍。", "5-8倍"),
    ],
)
def test_changed_figures_are_contradicted(store: FactStore, sentence: str, claim: str) -> None:
    assert status_of(sentence, store, claim) == CONTRADICTED


@pytest.mark.parametrize(
    ("sentence", "claim"),
    [
        ("某港口去年的贸易额为4550亿美元。", "4550亿美元"),  # same value, unrelated sentence
        ("星辰物流的营收为333.98亿元。", None),  # same value, only the generic metric... and a new name
        ("苹果公司的市值增长了359%。", "359%"),
        ("该地区的集装箱吞吐量为3530万标箱。", None),  # 标箱 is not a unit we know: bare 3530万 vs fact
        ("亚马逊的RPO为4560亿美元。", "4560亿美元"),  # other entity: not about Oracle
        ("2024年甲骨文RPO为1380亿美元。", "1380亿美元"),  # other year: not a contradiction
        ("Blackwell的训练速度提升了3倍。", "3倍"),  # inside the stored range: unclear
        ("云基础设施收入为40亿美元。", "40亿美元"),  # metric without entity: not strong enough to ⚠
        ("芯片出口额为800亿美元。", "800亿美元"),
    ],
)
def test_unrelated_or_uncertain_is_unsupported(store: FactStore, sentence: str, claim: str | None) -> None:
    report = check_text(sentence, store)
    claims = [c for c in report.claims if claim is None or c.text == claim]
    assert claims and all(c.status != CONTRADICTED for c in claims)
    if claim is not None and "星辰" not in sentence:
        assert claims[0].status == UNSUPPORTED


def test_names_carry_over_from_the_previous_sentence(store: FactStore) -> None:
    """A sentence that names nothing is about the previous sentence's subject, within its paragraph."""
    assert status_of("甲骨文公布了新一季财报。其RPO约4550亿美元。", store) == VERIFIED
    assert status_of("甲骨文公布了新一季财报。其RPO约4650亿美元。", store) == CONTRADICTED
    # a new paragraph does not inherit the subject: without one, a figure never contradicts a named company's
    assert status_of("甲骨文公布了新一季财报。\n\n其RPO约4650亿美元。", store) == UNSUPPORTED
    # a sentence with its own name does not borrow another
    assert status_of("甲骨文公布了新一季财报。亚马逊的RPO约4550亿美元。", store) == UNSUPPORTED


def test_without_names_the_subject_words_must_match(tmp_path: Path) -> None:
    with FactStore(tmp_path / "f.db") as s:
        s.import_text("全球人工智能芯片市场规模预计达到4550.5亿美元。", title="行业报告", url="https://example.com/m")
        s.import_text("全球人工智能芯片出货量预计达到300万片。", title="行业报告2", url="https://example.com/n")
        assert status_of("全球人工智能芯片的市场规模约为4550.5亿美元。", s) == VERIFIED
        assert status_of("人工智能芯片出货量为300万片。", s) == VERIFIED  # the same subject and metric words
        assert status_of("光伏组件的出货量为300万片。", s) == UNSUPPORTED  # only the metric is shared
        assert status_of("光伏组件的出货量为400万片。", s) == UNSUPPORTED  # and never a contradiction


def test_unrelated_same_value_never_verifies(store: FactStore) -> None:
    report = check_text("某港口去年的贸易额为4550亿美元，某银行的存款为333.98亿元。", store)
    assert [c.status for c in report.claims] == [UNSUPPORTED, UNSUPPORTED]


def test_changed_digit_never_verifies(store: FactStore) -> None:
    for changed in ("4551亿美元", "4505亿美元", "4550万美元", "455亿美元"):
        report = check_text(f"甲骨文的RPO为{changed}。", store)
        assert report.claims[0].status != VERIFIED, changed


def test_evidence_names_the_source_and_quotes_it(store: FactStore) -> None:
    report = check_text("甲骨文RPO为4560亿美元，寒武纪营收333.98亿元。", store)
    bad, good = report.claims
    assert bad.status == CONTRADICTED and good.status == VERIFIED
    assert bad.evidence[0].source == "甲骨文财报"
    assert "4550亿美元" in bad.evidence[0].quote
    assert bad.evidence[0].value == pytest.approx(4.55e11)
    assert good.evidence[0].source == "寒武纪年报"
    curated = check_text("微软的资本开支为800亿美元。", store).claims[0]
    assert curated.evidence[0].source == "https://example.com/msft-capex"


def test_summary_counts(store: FactStore) -> None:
    report = check_text("甲骨文RPO为4550亿美元，同比增长395%；某港口贸易额为1234亿美元。", store)
    assert report.summary == {"verified": 1, "contradicted": 1, "unsupported": 1}


def test_json_contract(store: FactStore) -> None:
    text = "# 报告 2025\n\n**模型**: qwen2.5:7b\n\n甲骨文RPO约4550亿美元[1]，同比增长395%，寒武纪有1200名员工。\n"
    data = check_text(text, store).to_json()
    assert set(data) == {"claims", "summary"}
    assert set(data["summary"]) == {"verified", "contradicted", "unsupported"}
    assert len(data["claims"]) == 3
    for c in data["claims"]:
        assert set(c) == {"text", "start", "end", "value", "value_hi", "unit", "approx", "status", "evidence"}
        assert text[c["start"] : c["end"]] == c["text"]
        assert c["status"] in ("verified", "contradicted", "unsupported")
        for e in c["evidence"]:
            assert set(e) == {"source", "quote", "value"}
    assert [c["status"] for c in data["claims"]] == ["verified", "contradicted", "unsupported"]
    assert data["claims"][0]["value"] == pytest.approx(4.55e11)
    assert data["claims"][0]["approx"] is True and data["claims"][0]["unit"] == "USD"


def test_mark_contradicted_inserts_markers_in_place(store: FactStore) -> None:
    text = "甲骨文RPO为4560亿美元，同比增长395%。寒武纪营收333.98亿元。"
    report = check_text(text, store)
    marked = mark_contradicted(text, report)
    assert marked == "甲骨文RPO为4560亿美元⚠，同比增长395%⚠。寒武纪营收333.98亿元。"
    assert mark_contradicted(marked, check_text(marked, store)) == marked  # idempotent


def test_empty_store_everything_unsupported(tmp_path: Path) -> None:
    with FactStore(tmp_path / "empty.db") as empty:
        report = check_text("甲骨文RPO为4550亿美元，同比增长359%。", empty)
    assert report.summary == {"verified": 0, "contradicted": 0, "unsupported": 2}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((4.55e11, None, "USD"), "4550亿 USD"),
        ((1.3e5, 1.6e5, "张"), "13万–16万 张"),
        ((35.0, None, "%"), "35%"),
        ((12.0, None, "pp"), "12 pp"),
        ((2.2, 4.5, "x"), "2.2–4.5x"),
        ((4500.0, None, "USD"), "4500 USD"),
        ((1.2e12, None, "CNY"), "1.2万亿 CNY"),
        ((3.3398e10, None, "CNY"), "333.98亿 CNY"),
        ((0.873, None, ""), "0.873"),
        ((-3.5, None, "%"), "-3.5%"),
    ],
)
def test_format_value(args: tuple, expected: str) -> None:
    assert format_value(*args) == expected
