"""Helpers shared by the kinds tests (importable as `kindkit`: pytest puts this folder on sys.path)."""

from __future__ import annotations

import re

from clikit import (  # noqa: F401  (re-exported for the kind tests)
    FIXTURE_CORPUS,
    PROJECT_SOURCES,
    ROOT,
    Result,
    assert_in_order,
    assert_one_line_error,
)

# A news page of our own words (served by `news_site`), about the fixture corpus's export-control story.
NEWS_PAGE = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>出口管制新规下的加速器市场</title></head><body><article>
<h1>出口管制新规下的加速器市场</h1>
<p>美国收紧先进芯片出口管制之后，面向中国市场的高端GPU供应明显减少，多家云厂商开始调整采购计划。</p>
<p>英伟达表示，出口限制使其在2026财年第一季度计提了45亿美元的相关费用，这一数字高于市场此前的预期。</p>
<p>国产加速器厂商因此获得了更多替代订单，但软件生态和产能爬坡仍是它们需要跨过的门槛。</p>
<p>分析人士认为，政策的不确定性会让采购方更倾向于分散供应来源，并在推理场景优先尝试国产方案。</p>
</article></body></html>"""


def body_of(report: str) -> str:
    """The report without the code-written 数据核验 appendix."""
    return report.split("\n## 数据核验", 1)[0]


_CITED = re.compile(r"([^\[\]]*?)\[(\d{1,3})\]")


def cited_sentences(line: str) -> list[tuple[str, int]]:
    """(sentence, ref) for every "…。[n]" in a line, list markers and field labels removed."""
    line = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", line)
    line = re.sub(r"^(?:##\s*结论：|\*\*[^*]{1,12}\*\*[:：])", "", line)
    return [(m.group(1).strip(), int(m.group(2))) for m in _CITED.finditer(line) if m.group(1).strip()]
