"""The ranking pieces on their own: which sentences may be quoted, TextRank, MMR, keywords, labels."""

from __future__ import annotations

from pipeline.llm.extractive_rank import (
    Cand,
    Terms,
    document_sentences,
    emit,
    is_keyword,
    keyword_scores,
    label,
    mmr,
    norm_key,
    pieces,
    sentence_keys,
    textrank,
    whole_words,
)
from pipeline.textutil import tokens


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
    (train,) = document_sentences("这次training营的报名人数增加了一倍左右。")
    assert not Terms.build(["AI"]).hits(train)
