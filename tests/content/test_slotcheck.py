"""The content checks on slot answers (pipeline/kinds/slotcheck.py), on their own: the near-duplicate threshold
against a hand-made set, echoes of the prompt (what gemma3-270m and a 1.5B instruct model wrote), an
article narrated instead of read, repeated points, whitespace runs, broken citation marks, cut replies."""

from __future__ import annotations

import pytest
from similarity_pairs import DIFFERENT, SAME

from pipeline.kinds.digest.slots import DigestFrame
from pipeline.kinds.prompting import slot_prompts, slot_wording
from pipeline.kinds.research.slots import Advice, ExecutiveSummary, Findings, Outlook, RunningSummary, Trends
from pipeline.kinds.slotcheck import (
    SIMILAR,
    Seen,
    containment,
    describes_article,
    drop_points,
    echoes_prompt,
    near_duplicate,
    numbers,
    problems,
    repeats,
    seen_in,
    tidy,
    trim_cut,
)
from pipeline.models import Group


def wording(prompt: str, kind: str, schema) -> object:
    spec = slot_prompts().get(kind, {"instruction": "", "shape": ""})
    return slot_wording(prompt, schema, spec["instruction"], spec["shape"])


# -- the threshold ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), SAME)
def test_near_duplicates_of_the_set_are_caught(a, b):
    assert near_duplicate(a, b) and near_duplicate(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_distinct_points_of_the_set_pass(a, b):
    assert not near_duplicate(a, b) and not near_duplicate(b, a)


def test_the_threshold_sits_in_the_gap_of_the_set():
    """0.6 is not tuned to one pair: every near-duplicate scores at least 0.1 above it, every distinct
    pair whose figures agree at least 0.1 below (different figures are different facts whatever the words)."""

    def figures_agree(a: str, b: str) -> bool:
        na, nb = numbers(a), numbers(b)
        return not (na and nb) or na <= nb or nb <= na

    same = [containment(a, b) for a, b in SAME]
    different = [containment(a, b) for a, b in DIFFERENT if figures_agree(a, b)]
    assert all(figures_agree(a, b) for a, b in SAME) and len(different) >= 10
    assert min(same) >= SIMILAR + 0.1
    assert max(different) <= SIMILAR - 0.1
    # Words alone would join these two: their figures keep them apart.
    a, b = "亚马逊第三季度资本开支为342亿美元[2]", "微软第三季度资本开支为349亿美元[3]"
    assert containment(a, b) >= SIMILAR and not near_duplicate(a, b)


def test_citations_and_punctuation_do_not_make_points_differ():
    assert near_duplicate("推理需求快速增长[1]", "推理需求快速增长。[3]")
    assert not near_duplicate("", "")


# -- echoes of the prompt --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["小标题", "要点", "1234567890", "要点1", "关键发现", "研究摘要",
                                  "本轮资料中的关键句写成的连贯研究摘要"])
def test_placeholders_and_instructions_written_back_are_echoes(text):
    w = wording("analysis", "analysis.findings", Findings)
    s = wording("summarize", "summarize", RunningSummary)
    assert echoes_prompt(text, w) or echoes_prompt(text, s)


@pytest.mark.parametrize("text", ["推理芯片出货量快速增长[1]", "2024年美国AI私人投资达到1091亿美元[1]",
                                  "头部云厂商将在窗口期内大规模采购H200芯片[2]", "政策制定者应完善国产芯片的采购激励"])
def test_real_points_are_not_echoes(text):
    for prompt, kind, schema in (("analysis", "analysis.findings", Findings), ("analysis", "analysis.advice", Advice),
                                 ("summarize", "summarize", RunningSummary)):
        assert not echoes_prompt(text, wording(prompt, kind, schema))


def test_titles_the_instruction_offers_are_fair_but_placeholders_are_not():
    trends = Trends(groups=[Group(title="需求侧", points=["推理需求快速增长[1]"]),
                            Group(title="小标题", points=["液冷数据中心加快建设[1]"])])
    found = problems(trends, wording("analysis", "analysis.trends", Trends))
    assert [p.kind for p in found] == ["echo"] and "第2组标题" in found[0].reason
    kept = drop_points(trends, [d for p in found for d in p.drop])
    assert kept is not None and [g.title for g in kept.groups] == ["需求侧"]


def test_a_digest_frame_copied_from_the_example_is_an_echo():
    frame = DigestFrame(headline="出口管制新规落地", category="AI产品", thesis="核心论断")
    found = problems(frame, wording("digest", "digest.frame", DigestFrame))
    assert found and found[0].kind == "echo" and not found[0].drop  # a thesis cannot be left out


# -- the article narrated ----------------------------------------------------------------------------


def test_a_summary_about_the_article_is_caught():
    assert describes_article("本文首先介绍了H200出口政策的背景。接着，文章分析了云厂商的采购逻辑。最后，文章总结了对国产芯片的影响。")
    assert describes_article("文章围绕英伟达芯片展开讨论，介绍了行业现状。")
    value = RunningSummary(summary="本文首先介绍了算力背景。接着，文章分析了资本开支。最后总结了挑战。")
    assert [p.kind for p in problems(value, None)] == ["describes"]


@pytest.mark.parametrize("text", [
    "报告指出，2024年美国AI私人投资达到1091亿美元[1]。头部云厂商将加大采购[2]。",
    "资料显示，一台8卡A800服务器一周内从230万元涨到330万元[1]。",
    "出口许可可能被美方随时收回[2]。",
])
def test_statements_of_fact_are_not_narration(text):
    assert not describes_article(text)


# -- repeated points ---------------------------------------------------------------------------------


def test_six_groups_of_the_same_three_bullets_keep_one():
    bullets = ["推理芯片出货量快速增长[1]", "液冷数据中心加快建设[1]", "模型调用价格持续下降[1]"]
    titles = ["需求侧", "供给侧与基础设施", "技术路径", "商业模式", "政策与治理", "资本市场"]
    trends = Trends(groups=[Group(title=t, points=list(bullets)) for t in titles])
    found = problems(trends, None)
    assert len(found) == 15 and {p.kind for p in found} == {"duplicate"}
    kept = drop_points(trends, [d for p in found for d in p.drop])
    assert kept is not None and len(kept.groups) == 1 and kept.groups[0].points == bullets


def test_three_identical_scenarios_keep_the_first():
    same = "预计数据中心投资保持高速增长"
    outlook = Outlook(near_term=["明年推理芯片出货量翻番[1]"], long_term=["3–5年内液冷成为主流[2]"],
                      base_case=same, optimistic_case=same + "。", cautious_case=same)
    found = problems(outlook, None)
    assert [p.reason for p in found] == ["乐观情景与基准情景几乎相同", "审慎情景与基准情景几乎相同"]
    kept = drop_points(outlook, [d for p in found for d in p.drop])
    assert (kept.base_case, kept.optimistic_case, kept.cautious_case) == (same, "资料不足", "资料不足")


def test_advice_repeated_for_each_audience_is_caught_and_nothing_is_left():
    advice = Advice(groups=[Group(title=t, points=["尽早评估算力成本，分阶段部署AI应用。"])
                            for t in ("企业用户", "投资者", "政策制定者")], closing="把握窗口期。")
    found = problems(advice, None)
    assert len(found) == 2
    assert len(drop_points(advice, [d for p in found for d in p.drop]).groups) == 1


def test_points_repeating_another_slot_or_the_summary_are_named_by_place_not_text():
    summary = ExecutiveSummary(text="2024年美国AI私人投资达到1091亿美元[1]。生成式AI吸引投资339亿美元[2]。")
    seen = seen_in(summary, "执行摘要")
    assert [s.text for s in seen] == ["2024年美国AI私人投资达到1091亿美元[1]。", "生成式AI吸引投资339亿美元[2]。"]
    trends = Trends(groups=[Group(title="需求侧", points=["2024年，美国AI私人投资达1091亿美元[1]", "推理需求快速增长[3]"])])
    found = repeats(trends, seen + [Seen("分析结果 1·关键发现与洞察", "芯片价格上涨")])
    assert [p.reason for p in found] == ["第1组第1条重复了执行摘要（正文）的内容"]
    assert "1091" not in found[0].reason


def test_the_honest_nothing_is_never_a_repeat_or_an_echo():
    outlook = Outlook(near_term=["资料不足"], long_term=["资料不足"], base_case="资料不足", optimistic_case="资料不足",
                      cautious_case="资料不足")
    assert problems(outlook, wording("analysis", "analysis.outlook", Outlook)) == []
    # the extractive engine leaves a scenario it has no sentence for empty; the template writes 资料不足
    empty = Outlook(near_term=["明年推理芯片出货量翻番[1]"], long_term=["资料不足"], base_case="", optimistic_case="",
                    cautious_case="")
    assert problems(empty, wording("analysis", "analysis.outlook", Outlook)) == []


# -- tidying and cut replies -----------------------------------------------------------------------


def test_whitespace_runs_and_broken_citations_are_removed():
    value = ExecutiveSummary(text="资本开支增长[1]。" + " " * 300 + "推理需求上升[2][199")
    assert tidy(value).text == "资本开支增长[1]。 推理需求上升[2]"
    paragraphs = ExecutiveSummary(text="第一段[1]。\n\n\n   第二段[1,2]。")
    assert tidy(paragraphs).text == "第一段[1]。\n\n第二段[1][2]。"


def test_a_sentence_said_again_in_one_text_is_said_once():
    # what the instruct model wrote as its executive summary: one sentence three times, near enough
    said = "英伟达调整H200对华出口政策，国内头部云厂商大规模采购H200芯片[1]。"
    again = "英伟达调整H200对华出口政策，中国头部云厂商大规模采购H200芯片[1]。"
    value = ExecutiveSummary(text=said + again + again + "美国对出口的限制仍可能收紧[2]。")
    assert tidy(value).text == said + "美国对出口的限制仍可能收紧[2]。"
    different = ExecutiveSummary(text="微软资本开支242亿美元[1]。谷歌资本开支224亿美元[1]。")
    assert tidy(different).text == different.text  # two figures, two sentences


def test_narrating_the_search_rounds_is_narration():
    assert describes_article("第一轮检索中，主要讨论了H200的出口政策调整。第二轮检索中，详细介绍了美国的出口限制。")
    assert not describes_article("检索到的资料显示，H200单价约3.2万美元[1]。")


def test_a_cut_reply_is_trimmed_at_its_last_sentence_end():
    cut = ExecutiveSummary(text="资本开支增长[1]。推理需求上升[2]。行业仍面临电力约")
    assert trim_cut(cut).text == "资本开支增长[1]。推理需求上升[2]。"
    findings = Findings(groups=[Group(title="需求", points=["推理需求上升[1]。", "云厂商将继续加大"])])
    assert trim_cut(findings).groups[0].points == ["推理需求上升[1]。"]  # a point with no sentence goes
    whole = ExecutiveSummary(text="资本开支增长[1]。")
    assert trim_cut(whole) == whole
    assert trim_cut(ExecutiveSummary(text="没有一个句号的半句")) is None  # nothing whole is left: ask again


def test_a_list_of_its_own_emptied_reads_nothing_rather_than_losing_the_slot():
    outlook = Outlook(near_term=["谷歌上调全年资本开支指引[1]"], long_term=["液冷成为数据中心主流"],
                      base_case="资本开支保持20%增速", optimistic_case="推理需求爆发", cautious_case="电力短缺拖慢建设")
    seen = [Seen("研究结果 1 的摘要", "谷歌把2025年全年资本开支指引上调到850亿美元[1]。")]
    found = repeats(outlook, seen)
    assert [p.reason for p in found] == ["近期展望第1条重复了研究结果 1 的摘要的内容"]
    kept = drop_points(outlook, [d for p in found for d in p.drop])
    assert kept.near_term == ["资料不足"] and kept.long_term == ["液冷成为数据中心主流"]
