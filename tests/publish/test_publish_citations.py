"""HTML citations: `[n]` links to entry n of its reference list, and the sanitizer lets through exactly
that (`id="ref-…"` on `li`, `href="#ref-…"` on `a`), nothing else relative and no other id."""

from __future__ import annotations

import re

from test_publish_html import assert_inert, body_of

from pipeline.run.publish import CSP, sanitize, to_html
from pipeline.run.render import md_inline

RESEARCH = """# 主管架构研究报告

## Summary
英伟达数据中心收入为512亿美元。[1]甲骨文剩余履约义务达到4550亿美元。[2][1]

 ### Sources:
* 英伟达 : https://example.com/nvda

## 最终综合报告

- 单台训练服务器的功耗已超过10千瓦。[2] 不存在的编号[9]。
- 网页标题里的 {escaped} 不是引用，代码 `[1]` 也不是。
- 真链接 [1](https://example.com/one) 保持原样。

| 指标 | 来源 |
|---|---|
| 营收 | [2] |

### 5. 参考资料

1. 英伟达财报：https://example.com/nvda
2. 甲骨文财报：https://example.com/orcl

## 数据核验

共 1 处数值。[1]
"""


def links(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="(#[^"]*)"[^>]*>([^<]*)</a>', body_of(page))


def test_research_citations_link_to_the_reference_list():
    page = to_html(RESEARCH.format(escaped=md_inline("[2]")))
    assert_inert(page)
    assert re.findall(r'<li id="(ref-\d+)">', page) == ["ref-1", "ref-2"]
    # summary [1] [2][1], a bullet [2], the table [2], the appendix [1] (after the list: the last list)
    assert links(page) == [("#ref-1", "[1]"), ("#ref-2", "[2]"), ("#ref-1", "[1]"), ("#ref-2", "[2]"),
                           ("#ref-2", "[2]"), ("#ref-1", "[1]")]
    body = body_of(page)
    assert "不存在的编号[9]" in body  # no entry 9: plain text
    assert "网页标题里的 [2] 不是引用" in body  # escaped in web text: never a link
    assert "<code>[1]</code>" in body
    assert '<a href="https://example.com/one" rel="noopener noreferrer">1</a>' in body
    assert "<td><a href=\"#ref-2\"" in body


def test_each_article_links_to_its_own_list():
    articles = "".join(
        f"## 文章{k}\n\n第{k}篇的论点。[1] 另一论点。[2]\n\n**参考资料**\n\n1. 来源{k}A：https://example.com/{k}a\n"
        f"2. 来源{k}B：https://example.com/{k}b\n\n"
        for k in (1, 2)
    )
    page = to_html(f"# 热点评论\n\n{articles}## 数据核验\n\n无。\n")
    assert_inert(page)
    assert re.findall(r'<li id="(ref-[\d-]+)">', page) == ["ref-1-1", "ref-1-2", "ref-2-1", "ref-2-2"]
    assert [h for h, _ in links(page)] == ["#ref-1-1", "#ref-1-2", "#ref-2-1", "#ref-2-2"]


def test_no_reference_list_no_links():
    page = to_html("# 报告\n\n一句话。[1]\n\n1. 普通列表\n")
    assert "href=\"#" not in page and " id=" not in body_of(page)
    assert "一句话。[1]" in page


def test_sanitizer_allows_only_reference_ids_and_links():
    dirty = (
        '<a href="#ref-3">ok</a><a href="#ref-2-3">ok2</a><a href="#top">x</a><a href="/etc/passwd">y</a>'
        '<a href="//evil.example/x">z</a><a href="#ref-1&quot;onclick=alert(1)">w</a><a href="ref-1">v</a>'
        '<ul><li id="ref-1">a</li><li id="main">b</li><li id="ref-1 x">c</li></ul>'
        '<p id="ref-1">p</p><h2 id="ref-2">h</h2><a id="ref-3" href="https://example.com/">u</a>'
    )
    clean = sanitize(dirty)
    assert re.findall(r'href="([^"]*)"', clean) == ["#ref-3", "#ref-2-3", "https://example.com/"]
    assert re.findall(r'id="([^"]*)"', clean) == ["ref-1"]  # on the li only
    assert "evil" not in clean and "passwd" not in clean and "onclick" not in clean


def test_csp_still_forbids_everything_but_our_stylesheet():
    assert "default-src 'none'" in CSP and "script-src" not in CSP
    page = to_html(RESEARCH.format(escaped=""))
    assert f'content="{CSP}"' in page
