"""The HTML page: hostile text from search results never reaches it as markup; tables and links do."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hostile_html import HOSTILE

from pipeline.run.publish import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, front_matter, page_title, sanitize, to_html
from pipeline.run.render import md_inline, md_url

REF_HREF = re.compile(r"#ref-\d{1,3}(?:-\d{1,3})?")  # a citation's link to its reference entry
FRAME_TAGS = {"html", "head", "meta", "title", "style", "body", "main"}
DANGEROUS_SUBSTRINGS = ["<script", "<iframe", "<svg", "<img", "<object", "<embed", "<form", "<base", "<link",
                        "<math", "<input", "<textarea", "<details", "<template", "<noscript", "onerror",
                        "onload", "onmouseover", "ontoggle", "style=", "javascript:", "vbscript:", "data:",
                        "evil.example"]


class Audit(HTMLParser):
    """Every tag and attribute of the page body, to compare with the allow-list."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.in_main = False

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.in_main = True
            return
        if self.in_main:
            self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "main":
            self.in_main = False


def body_of(page: str) -> str:
    return page.split("<main>", 1)[1].split("</main>", 1)[0]


def assert_inert(page: str) -> None:
    audit = Audit()
    audit.feed(page)
    for tag, attrs in audit.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
            assert name in allowed, (tag, name, value)
            if name == "href":
                assert value.startswith(("http://", "https://", "mailto:")) or REF_HREF.fullmatch(value), value
            if name == "id":
                assert REF_HREF.fullmatch("#" + value), value
            if name == "rel":
                assert value == "noopener noreferrer"
            if name == "class":
                assert tag == "table" and value == "data-check", (tag, value)
    markup = body_of(page)
    # Whatever text survives is escaped; as markup none of these may appear. (`<details>` may: it is
    # the data check's evidence block, and admitted without any attribute, so `open ontoggle=…` goes.)
    for bad in ("<script", "<iframe", "<svg", "<img", "<object", "<embed", "<form", "<base", "<link", "<style",
                "<meta", "<math", "<textarea", "<template", "<input"):
        assert bad not in markup.lower(), bad
    head = page.split("<main>", 1)[0]
    assert head.count("<meta") == 5 and head.count("<style>") == 1 and "<script" not in head.lower()


def test_hostile_corpus_is_large_enough():
    assert len(HOSTILE) >= 15


@pytest.mark.parametrize("bad", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
def test_raw_hostile_markdown_is_neutralized(bad):
    """Worst case: the string reached the markdown unescaped (as a paragraph, a table cell, a heading)."""
    md = f"# 报告\n\n{bad}\n\n| 来源 | 摘录 |\n|---|---|\n| {bad} | x |\n\n## {bad}\n\n- {bad}\n"
    page = to_html(md)
    assert_inert(page)
    markup = body_of(page)
    attrs = " ".join(str(a) for _, a in _tags(page))
    for needle in ("javascript:", "vbscript:", "data:", "evil.example", "onerror", "onload", "style"):
        assert needle not in attrs.lower(), needle
    assert "<table>" in markup  # the ordinary table still renders


@pytest.mark.parametrize("bad", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
def test_hostile_title_url_snippet_as_the_templates_write_them(bad):
    """The normal path: titles and snippets through md_inline, URLs through md_url, as in the templates."""
    md = (
        f"# 主管架构研究报告\n\n## Summary\n{md_inline(bad)}[1]\n\n ### Sources:\n* {md_inline(bad)} : {md_url(bad)}\n"
        f"* {md_inline('正常来源')} : {md_url('https://example.com/a?b=1&c=2')}\n\n"
        f"| 原文 | 来源与原文摘录 |\n|---|---|\n| 35% | {md_inline(bad)}：「{md_inline(bad)}」 |\n"
    )
    page = to_html(md)
    assert_inert(page)
    lower = " ".join(str(a) for _, a in _tags(page)).lower()
    for needle in DANGEROUS_SUBSTRINGS:
        if needle.startswith("<"):
            assert needle not in body_of(page).lower()
        else:
            assert needle not in lower, needle


def _tags(page: str):
    audit = Audit()
    audit.feed(page)
    return audit.tags


def test_ordinary_tables_links_and_structure_survive():
    md = (
        "# 主管架构研究报告\n\n**研究主题**: 算力\n**模型**: qwen2.5:7b\n\n## 最终综合报告\n\n"
        "| 指标 | 数值 |\n|---|---|\n| 资本开支 | 3200亿美元 |\n| 渗透率 | 35% |\n\n"
        "1. 第一条\n2. 第二条\n\n- [官方公告](https://example.com/a?x=1&y=2) 与 [邮件](mailto:ir@example.com)\n\n"
        "```\ncode block\n```\n\n## 数据核验\n\n共 1 处数值。\n"
    )
    page = to_html(md)
    body = body_of(page)
    assert "<table>" in body and "<th>指标</th>" in body and "<td>3200亿美元</td>" in body
    assert '<a href="https://example.com/a?x=1&amp;y=2" rel="noopener noreferrer">官方公告</a>' in body
    assert '<a href="mailto:ir@example.com" rel="noopener noreferrer">邮件</a>' in body
    assert "<h2>数据核验</h2>" in body and "<ol>" in body and "<pre><code>code block" in body
    assert "<br" in body  # header fields keep their own lines
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<title>主管架构研究报告</title>" in page
    assert "PingFang SC" in page and "@media print" in page and "max-width" in page


def test_title_is_escaped():
    page = to_html("# 报告 <script>alert(1)</script>\n\n正文\n", title=page_title("# 报告\n", {"topic": "</title><script>x</script>"}))
    head = page.split("</head>", 1)[0]
    assert "<script" not in head and "&lt;/title&gt;&lt;script&gt;" in head


def test_sanitize_drops_style_and_event_attributes_from_content():
    out = sanitize('<p style="color:red" onclick="x()" class="c" id="i">t</p><a href="https://e.com" target="_blank">l</a>')
    assert out == '<p>t</p><a href="https://e.com" rel="noopener noreferrer">l</a>'


def test_front_matter_values_are_yaml_escaped():
    import yaml

    hostile_topic = 'AI: "投资" #注释\n---\nevil: true'
    fm = front_matter({"topic": hostile_topic, "kind": "digest", "credibility": 4, "tags": ["AI产品"],
                       "workers": [{"sources": ["https://a", "https://b", "https://a"]}]}, day="2025-06-02")
    assert fm.startswith("---\n") and fm.endswith("\n---\n\n")
    assert [line for line in fm.splitlines() if line.strip() == "---"] == ["---", "---"]
    data = yaml.safe_load(fm[4:-6])
    assert data == {"title": 'AI: "投资" #注释 --- evil: true', "date": __import__("datetime").date(2025, 6, 2), "kind": "digest",
                    "tags": ["digest", "AI产品"], "credibility": 4, "source_count": 2}
    no_cred = yaml.safe_load(front_matter({"topic": "x", "kind": "research"}, day="2025-06-02")[4:-6])
    assert "credibility" not in no_cred and no_cred["source_count"] == 0
