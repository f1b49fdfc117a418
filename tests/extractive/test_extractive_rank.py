"""The ranking pieces on their own: which sentences may be quoted, TextRank, MMR, keywords, labels."""

from __future__ import annotations

from pipeline.llm.extractive_rank import (
    Cand,
    Terms,
    dangling,
    document_sentences,
    emit,
    is_keyword,
    keyword_scores,
    label,
    mmr,
    norm_key,
    pieces,
    same_fact,
    sentence_facts,
    sentence_keys,
    textrank,
    whole_words,
)
from pipeline.text import tokens


def test_closing_quote_goes_back_to_its_sentence() -> None:
    text = "分析师说：“芯片供给仍然紧张。”随后价格继续上涨。"
    assert pieces(text) == ["分析师说：“芯片供给仍然紧张。”", "随后价格继续上涨。"]


def test_only_clean_statements_are_quotable() -> None:
    text = (
        "# 标题行没有句号\n"
        "![图](https://example.cn/a.png)\n"
        "**加粗的导语说明芯片出口管制持续收紧。**\n"
        "算力价格会继续上涨吗？\n"
        "参考文献[3]指出算力租赁价格下降了三成。\n"
        "他说：“算力需求仍在增长。\n"
        "云厂商的数据中心资本开支同比增长了62%；\n"
    )
    quoted = [s.text for s in document_sentences(text)]
    assert quoted == ["加粗的导语说明芯片出口管制持续收紧。", "云厂商的数据中心资本开支同比增长了62%；"]
    for s in quoted:
        assert s in text


def test_emit_keeps_words_and_cites() -> None:
    (sent,) = document_sentences("云厂商的数据中心资本开支同比增长了62%；")
    assert emit(sent, 4) == "云厂商的数据中心资本开支同比增长了62%。[4]"
    assert sentence_keys(emit(sent, 4)) == [sent.norm] == [norm_key("云厂商的数据中心资本开支同比增长了62%")]


def test_textrank_favours_the_sentence_that_links_the_others() -> None:
    sets = [
        frozenset({"算力", "芯片", "价格"}),
        frozenset({"算力", "芯片", "数据中心", "电力"}),
        frozenset({"数据中心", "电力", "液冷"}),
        frozenset({"足球", "联赛"}),
    ]
    ranks = textrank(sets)
    assert ranks == textrank(sets)  # deterministic
    assert max(ranks) == ranks[1] == 1.0
    assert ranks[3] == min(ranks)


def _cand(text: str, ref: int, pos: int, score: float) -> Cand:
    (sent,) = document_sentences(text)
    object.__setattr__(sent, "pos", pos)
    return Cand(sent=sent, ref=ref, centrality=score, relevance=0.0, score=score)


def test_mmr_skips_near_duplicates_and_caps_per_source() -> None:
    a = _cand("云厂商的人工智能资本开支同比增长了六成。", 1, 0, 0.9)
    b = _cand("云厂商的人工智能资本开支同比增长了六成多。", 2, 0, 0.8)  # a syndicated copy
    c = _cand("电力供应短缺成为新建数据中心的瓶颈。", 1, 1, 0.5)
    d = _cand("国产加速芯片的出货量同比增长了八成。", 3, 0, 0.4)
    assert mmr([a, b, c, d], 3) == [a, c, d]
    assert mmr([a, b, c, d], 3, per_ref=1) == [a, d]


def test_keywords_are_whole_nouns_and_skip_the_topic() -> None:
    toks = tokens("业内人士认为服务器和数据中心的需求正在加快增长")
    words = whole_words(toks)
    assert "业内人士" in words and "内人" not in words and "务器" not in words
    units = [(1, whole_words(tokens("数据中心的电力供应紧张，数据中心扩建放缓。"))),
             (2, whole_words(tokens("人工智能数据中心需要更多电力。")))]
    ranked = [w for w, _ in keyword_scores(units, exclude=["人工", "智能"])]
    assert ranked[0] == "数据中心" and any("电力" in w for w in ranked)
    assert not is_keyword("已有") and not is_keyword("2024年") and not is_keyword("30gw") and is_keyword("h200")


def test_labels_are_short() -> None:
    assert label(["算力", "资本开支"]) == "算力与资本开支"
    assert len(label(["很长的关键词" * 3, "另一个"])) <= 20


def test_gate_knows_ai_is_人工智能() -> None:
    (sent,) = document_sentences("多家厂商发布了新一代AI芯片，性能提升一倍。")
    assert Terms.build(["人工智能发展趋势"]).hits(sent) == ["ai"]
    (train,) = document_sentences("本次training营的报名人数增加了一倍左右。")
    assert not Terms.build(["AI"]).hits(train)


def test_a_sentence_is_not_cut_at_its_semicolon() -> None:
    """"第二季度营收为467亿美元…" alone has lost its subject: a clause ending in `；` stays with the rest."""
    text = "英伟达第一季度营收为441亿美元，同比增长69%；第二季度营收为467亿美元，同比增长56%。数据中心业务收入同样创下新高。"
    quoted = [s.text for s in document_sentences(text)]
    assert quoted == ["英伟达第一季度营收为441亿美元，同比增长69%；第二季度营收为467亿美元，同比增长56%。",
                      "数据中心业务收入同样创下新高。"]
    assert sentence_keys(quoted[0] + "[1]") == [norm_key(quoted[0])]


def test_a_dangling_sentence_comes_only_with_the_one_before_it() -> None:
    text = ("算力租赁价格在2024年下半年明显回落。然而，头部云厂商的资本开支仍在上升。\n"
            "第二，政策风险成为算力价格的主要驱动因素。\n"
            "这些数据说明推理需求增长很快。")
    sents = document_sentences(text)
    texts = [s.text for s in sents]
    # the first sentence alone, and joined with the 然而 sentence that leans on it; never 然而 alone
    assert texts == ["算力租赁价格在2024年下半年明显回落。",
                     "算力租赁价格在2024年下半年明显回落。然而，头部云厂商的资本开支仍在上升。"]
    pair = sents[1]
    assert pair.ids == (norm_key(texts[0]), norm_key("然而，头部云厂商的资本开支仍在上升。"))
    assert sentence_keys(emit(pair, 2)) == list(pair.ids)  # read back from a summary: both count as used
    for opener in ("然而，", "第三，", "这些数据说明", "此外，", "同月，", "其中，", "但"):
        assert dangling(opener + "云厂商的资本开支增长了62%。")
    for fine in ("第二季度营收为467亿美元。", "据路透社报道，H200获准出口。", "英伟达表示需求旺盛。"):
        assert not dangling(fine)


def test_a_fact_is_a_number_and_what_it_is_about() -> None:
    a = sentence_facts("斯坦福AI指数引用的调查显示，2024年有78%的企业表示已在业务中使用人工智能。")
    b = sentence_facts("斯坦福AI指数引用的调查显示，2024年有78%的企业在至少一项业务中使用人工智能，高于2023年的55%。")
    c = sentence_facts("微软Azure收入同比增长78%，高于市场预期。")
    assert len(a) == 1 and same_fact(a[0], b[0])  # same figure, same referent, other words
    assert not same_fact(a[0], c[0])  # same figure, another thing
    assert not any(same_fact(a[0], f) for f in b[1:])  # another figure
    assert sentence_facts("2025年4月，美国商务部更新了规则。") == ()  # a date is not a fact
