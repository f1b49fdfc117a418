"""Both kinds with the extractive engine on the project's own corpus (`sources/`), as a user without
Ollama runs them: complete reports, and every cited sentence is a verbatim sentence of its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kindkit import PROJECT_SOURCES, assert_in_order, body_of, cited_sentences

from pipeline.documents import iter_source_files, read_document


@pytest.fixture(scope="module")
def texts_by_url() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in iter_source_files(PROJECT_SOURCES):
        doc = read_document(p)
        out.setdefault(doc.url, []).append(doc.body)
    return out


def references(section: str) -> dict[int, str]:
    """n → URL of a code-written reference list (URL on the same line or on the next one)."""
    refs: dict[int, str] = {}
    lines = section.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\d+)\. ", line)
        if not m:
            continue
        url = re.search(r"(?:https?|file)://\S+", line) or (
            re.search(r"^\s+((?:https?|file)://\S+)", lines[i + 1]) if i + 1 < len(lines) else None
        )
        if url:
            refs[int(m.group(1))] = url.group(url.lastindex or 0).strip()
    return refs


def assert_sentences_from_sources(section: str, texts_by_url: dict[str, list[str]]) -> int:
    refs = references(section)
    checked = 0
    for line in section.splitlines():
        if line.startswith("|"):
            continue  # the metrics table: figures and their clauses, checked by the facts check
        for sentence, n in cited_sentences(line):
            assert n in refs, f"[{n}] points to no listed source: {line}"
            plain = sentence.rstrip("。；;")
            assert any(plain in t for t in texts_by_url[refs[n]]), f"not verbatim in [{n}] {refs[n]}: {sentence}"
            checked += 1
    return checked


def run_extractive(yanbao, *args: str):
    return yanbao("run", *args, "--llm", "extractive", "--search", "local", "--sources", str(PROJECT_SOURCES),
                  "--out", "out", "--quiet")


def test_extractive_digest(yanbao, texts_by_url):
    res = run_extractive(yanbao, "--kind", "digest", "英伟达H20对华销售")
    assert res.code == 0, res.stderr
    text = res.text
    body = body_of(text)
    assert "（本节未能生成" not in body, body
    assert_in_order(text, ["# AI产品资讯汇总", "\n**可信度评分：** ", "\n## 执行摘要：", "**战略问题**：",
                           "**关键数据指标**：", "**战略判断**：", "（40%）", "（30%）", "（15%）", "（10%）", "（5%）",
                           "\n## 结论：", "\n## 参考文献与数据来源", "\n**更新日志**：", "\n## 数据核验"])
    table = body.split("**关键数据指标**：", 1)[1].split("**战略判断**", 1)[0]
    assert "（暂无经核实的数据）" not in table and table.count("\n| ") >= 3
    assert assert_sentences_from_sources(body, texts_by_url) >= 15
    assert res.manifest["config"]["provider"] == "extractive"


def test_extractive_commentary(yanbao, texts_by_url):
    res = run_extractive(yanbao, "--kind", "commentary", "H200出口许可", "数据中心电力")
    assert res.code == 0, res.stderr
    body = body_of(res.text)
    assert "（本节未能生成" not in body, body
    articles = body.split("\n## ")[1:]
    assert len(articles) == 2
    for article in articles:
        assert "：" in article.splitlines()[0]  # headline：hook
        assert_in_order(article, ["\n**一、 ", "\n**二、 ", "\n**三、 ", "\n**结语**",
                                  "\n**本文仅代表作者观点,欢迎讨论**", "？", "\n**参考资料**"])
        assert assert_sentences_from_sources(article, texts_by_url) >= 8


def test_cited_sentences_parser():
    line = "- 甲公司营收增长。[1]乙公司也在扩产；[2]"
    assert cited_sentences(line) == [("甲公司营收增长。", 1), ("乙公司也在扩产；", 2)]
    assert cited_sentences("## 结论：一句话结论。[3]") == [("一句话结论。", 3)]
    assert references("1. **甲**：标题  \n   https://a.example/x\n2. 标题，乙：https://b.example/y") == {
        1: "https://a.example/x", 2: "https://b.example/y"}
    assert Path(PROJECT_SOURCES).is_dir()
