"""The research summary is written from key sentences code picks, and code writes the citations the
model leaves off (`pipeline.kinds.research.evidence`, `worker.extend_summary`)."""

from __future__ import annotations

from pipeline.kinds.citations import Evidence, cite, sentence_pieces, source_of
from pipeline.kinds.prompting import Journal, render_messages
from pipeline.kinds.research.evidence import evidence_block, key_sentences
from pipeline.kinds.research.worker import extend_summary, without_label
from pipeline.models import Doc

# Two invented articles about one sub-topic, plus an off-topic paragraph inside the first.
BATTERY = Doc(ref=1, source_id="a", title="储能电池出货观察", url="", text=(
    "储能电池是今年电池行业增长最快的板块。\n"
    "据行业协会统计，2025年前三季度国内储能电池出货量达到186GWh，同比增长54%。\n"
    "协会预计全年储能电池出货量将超过260GWh，其中海外订单占比约三成。\n"
    "本届展会的餐饮区设在二号馆，参观者普遍反映排队时间较长。\n"
    "储能电池价格继续走低，主流电芯报价已跌破0.3元/Wh。\n"
    "业内人士认为，储能电池行业的竞争将从价格转向安全与寿命。\n"
))
PRICES = Doc(ref=2, source_id="b", title="电芯价格与厂商格局", url="", text=(
    "在储能电池领域，前五家厂商合计占据了约72%的出货份额。\n"
    "一家头部厂商的储能电池业务收入在上半年达到95亿元。\n"
    "受原材料碳酸锂降价影响，储能电池系统中标均价同比下降约四成。\n"
))


def test_key_sentences_keep_the_sub_topics_figures_from_every_source_in_source_order() -> None:
    items = key_sentences([BATTERY, PRICES], "储能电池市场", "储能电池出货与价格", budget=1600)
    texts = [e.text for e in items]
    assert any("186GWh" in t for t in texts) and any("0.3元/Wh" in t for t in texts)
    assert {e.ref for e in items} == {1, 2}  # every source is heard
    assert not any("餐饮区" in t for t in texts)  # off the sub-topic: left out
    assert [(e.ref, e.position) for e in items] == sorted((e.ref, e.position) for e in items)
    assert all(t in BATTERY.text or t in PRICES.text for t in texts)  # verbatim


def test_key_sentences_fit_the_budget_keeping_the_best_and_skip_what_the_summary_says() -> None:
    few = key_sentences([BATTERY, PRICES], "储能电池市场", "储能电池出货与价格", budget=60)
    assert 1 <= len(few) < 4
    assert {e.ref for e in few} == {1, 2}  # each source's best sentence comes first
    assert sum(len(e.text) for e in few) < 60 * 2  # estimate: about 1.5 characters a token, at most
    said = "据行业协会统计，2025年前三季度国内储能电池出货量达到186GWh，同比增长54%。[1]"
    again = key_sentences([BATTERY, PRICES], "储能电池市场", "储能电池出货与价格", budget=1600, avoid=said)
    assert not any("186GWh" in e.text for e in again)


def test_the_summary_prompt_quotes_the_key_sentences_as_data_under_their_source_number() -> None:
    items = key_sentences([BATTERY, PRICES], "储能电池市场", "储能电池出货与价格", budget=1600)
    block = evidence_block(items, [BATTERY, PRICES])
    messages = render_messages("summarize", "t", Journal(), 6000, {
        "topic": "储能电池市场", "subtopic": "储能电池出货与价格", "summary": "", "evidence": block})
    user = messages[-1]["content"]
    first = user.split("<<<来源[1] 开始>>>", 1)[1].split("<<<来源[1] 结束>>>", 1)[0]
    assert "186GWh" in first and "95亿元" not in first
    assert "[2] 电芯价格与厂商格局" in user and "95亿元" in user
    assert "餐饮区" not in user


EVIDENCE = [
    Evidence(1, "据行业协会统计，2025年前三季度国内储能电池出货量达到186GWh，同比增长54%。", 1),
    Evidence(1, "储能电池价格继续走低，主流电芯报价已跌破0.3元/Wh。", 4),
    Evidence(2, "在储能电池领域，前五家厂商合计占据了约72%的出货份额。", 0),
    Evidence(2, "另一份统计显示，前三季度出货量同比增长54%。", 3),
]


def test_a_restated_figure_gets_the_number_of_the_one_source_that_holds_it() -> None:
    assert source_of("今年前三季度，国内储能电池出货186GWh。", EVIDENCE) == 1
    assert source_of("头部五家厂商的出货份额合计约为72%。", EVIDENCE) == 2
    assert source_of("出货量同比增长54%。", EVIDENCE) is None  # two sources hold it: not clear which
    assert source_of("出货186GWh，同比增长54%。", EVIDENCE) == 1  # only source 1 holds both
    assert source_of("出货186GWh，同比增长80%。", EVIDENCE) is None  # 80% is in no source: no citation
    assert source_of("主流电芯报价已跌破0.5元/Wh。", EVIDENCE) is None  # a figure no source holds, however alike the words
    assert source_of("储能电池价格继续走低，主流电芯报价持续下跌。", EVIDENCE) == 1  # the words of one sentence
    assert source_of("行业前景广阔。", EVIDENCE) is None


def test_cite_adds_only_clear_citations_and_corrects_a_figure_cited_to_the_wrong_source() -> None:
    text = "国内储能电池出货186GWh。头部五家厂商份额约72%[2]。主流电芯报价已跌破0.3元/Wh[2]。行业前景广阔[2]。"
    cited, added, replaced = cite(text, EVIDENCE)
    assert cited == "国内储能电池出货186GWh。[1]头部五家厂商份额约72%[2]。主流电芯报价已跌破0.3元/Wh。[1]行业前景广阔[2]。"
    assert (added, replaced) == (1, 1)


def test_a_citation_goes_after_the_closing_quote_and_pieces_give_the_text_back() -> None:
    text = "协会称“出货186GWh。”前五家份额约72%。\n\n另有一行没有句号"
    assert "".join(sentence_pieces(text)) == text
    cited, added, _ = cite(text, EVIDENCE)
    assert cited.startswith("协会称“出货186GWh。”[1]前五家份额约72%。[2]\n\n")
    assert added == 2


def test_sources_without_a_sentence_to_pick_are_quoted_whole() -> None:
    english = Doc(ref=1, source_id="e", title="Storage shipments", url="", text=(
        "Energy storage battery shipments reached 186 GWh in the first three quarters. Prices fell further."))
    assert key_sentences([english], "储能电池市场", "储能电池出货", budget=1600) == []
    messages = render_messages("summarize", "t", Journal(), 6000, {
        "topic": "储能电池市场", "subtopic": "储能电池出货", "summary": "", "query": "储能电池出货",
        "evidence": "", "documents_for_block": [english]})
    user = messages[-1]["content"]
    assert "186 GWh" in user and "关键句" not in user


def test_a_rounds_paragraph_is_appended_cited_and_never_says_the_summary_again() -> None:
    journal = Journal()
    refs = {"a": 1, "b": 2}
    first = extend_summary(journal, "s1", "", "国内储能电池出货186GWh。头部五家厂商份额约72%[7]。", refs, EVIDENCE)
    assert first == "国内储能电池出货186GWh。[1]头部五家厂商份额约72%。[2]"  # [7] is no source: removed, then cited
    twice = extend_summary(journal, "s1", "", "国内储能电池出货186GWh。国内储能电池出货186GWh。", refs, EVIDENCE)
    assert twice == "国内储能电池出货186GWh。[1]"
    second = extend_summary(journal, "s2", first, "国内储能电池出货186GWh[1]。主流电芯报价已跌破0.3元/Wh[1]。",
                            refs, EVIDENCE)
    assert second.startswith(first + "\n\n")
    assert second.count("186GWh") == 1 and "0.3元/Wh[1]" in second
    notes = [n["note"] for n in journal.notes]
    assert any("unknown sources" in n for n in notes) and any("already in the earlier summary" in n for n in notes)
    assert extend_summary(journal, "s3", second, "主流电芯报价已跌破0.3元/Wh。", refs, EVIDENCE) == second


def test_a_lead_that_only_labels_the_paragraph_goes_and_a_lead_with_content_stays() -> None:
    topic, sub = "储能电池市场", "储能电池出货与价格"
    assert without_label("储能电池市场的研究摘要如下：出货186GWh。", topic, sub) == "出货186GWh。"
    assert without_label("本轮摘要：出货186GWh。", topic, sub) == "出货186GWh。"
    assert without_label("据行业协会统计：出货186GWh。", topic, sub) == "据行业协会统计：出货186GWh。"
    assert without_label("宁德时代：出货186GWh。", topic, sub) == "宁德时代：出货186GWh。"
    assert without_label("研究摘要：", topic, sub) == "研究摘要："  # nothing after it: the checks judge it


def test_every_slot_answer_gets_the_citations_of_its_figures_and_titles_stay_as_written() -> None:
    from pipeline.kinds.citations import cited
    from pipeline.kinds.research.slots import Findings
    from pipeline.models import Group

    answer = Findings(groups=[Group(title="出货186GWh的背后", points=[
        "前三季度储能电池出货186GWh，同比增长54%。",  # only source 1 holds both figures
        "前五家厂商合计份额约72%[1]。",  # the model named the wrong source
        "系统中标均价同比下降约四成。另据统计，出货达186GWh。[1]",  # a unit cited at its end
        "行业竞争加剧。",  # no figure: no citation made up
        "电芯报价跌破0.5元/Wh。",  # a figure no source holds: the facts check will say so
    ])])
    fixed = cited([BATTERY, PRICES])(answer)
    title, points = fixed.groups[0].title, fixed.groups[0].points
    assert title == "出货186GWh的背后"
    assert points[0] == "前三季度储能电池出货186GWh，同比增长54%。[1]"
    assert points[1] == "前五家厂商合计份额约72%。[2]"
    assert points[2] == "系统中标均价同比下降约四成。[2]另据统计，出货达186GWh。[1]"
    assert points[3:] == ["行业竞争加剧。", "电芯报价跌破0.5元/Wh。"]


def test_an_extractive_pair_cited_once_at_its_end_is_left_as_it_is() -> None:
    from pipeline.kinds.citations import cite, figure_sentences

    pair = "据行业协会统计，2025年前三季度国内储能电池出货量达到186GWh，同比增长54%。协会预计全年储能电池出货量将超过260GWh，其中海外订单占比约三成。[1]"
    assert cite(pair, figure_sentences([BATTERY, PRICES]), figures_only=True)[0] == pair
