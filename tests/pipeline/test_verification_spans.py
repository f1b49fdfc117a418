"""What the pipeline's facts check leaves out: lines written by code from metadata."""

from __future__ import annotations

from pipeline.run.verify import unchecked_spans

REPORT = (
    "# 报告\n\n**研究主题**: 算力\n\n## 研究结果\n\n"
    "甲公司2024年营收为120亿元。[1]\n\n"
    " ### Sources:\n"
    "* 中国云厂商资本开支：阿里3800亿元计划 : file:///srv/yanbao/sources/18-china-cloud-capex.md\n"
    "* 乙公司公告：营收80亿元 : https://example.com/yi\n\n"
    "**参考资料**\n\n"
    "1. 国产GPU登陆资本市场：摩尔线程上市首日市值2822亿元，摩尔线程，2025-12-05：file:///srv/sources/29.md\n"
)


def _skipped(word: str) -> bool:
    at = REPORT.index(word)
    return any(a <= at < b for a, b in unchecked_spans(REPORT))


def test_a_source_line_with_a_local_document_address_is_metadata():
    # A corpus document without a url is cited by its file:// address: its title is not a claim.
    assert _skipped("3800亿元") and _skipped("2822亿元") and _skipped("80亿元")


def test_prose_is_still_checked():
    assert not _skipped("120亿元")
