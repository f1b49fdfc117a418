"""`yanbao diff OLD.md NEW.md`: numbers matched by what they are about; sources added and dropped."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.facts.diff import diff_files, diff_texts, format_text, sources_of

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OLD, NEW = FIXTURES / "report-old.md", FIXTURES / "report-new.md"


def test_numbers_changed_added_removed():
    r = diff_files(OLD, NEW)
    changed = {(c["old"]["text"], c["new"]["text"]) for c in r["numbers"]["changed"]}
    assert changed == {("4550亿美元", "5230亿美元"), ("359%", "438%"), ("超过10千瓦", "超过12千瓦")}
    assert [n["text"] for n in r["numbers"]["added"]] == ["9万片"]
    assert [o["text"] for o in r["numbers"]["removed"]] == ["约945太瓦时"]
    # unchanged: the capex figure and its "三家" (same sentence, new citation number), the liquid-cooling
    # share (moved paragraph), the HBM output (reworded sentence, matched by its referent words)
    assert r["numbers"]["unchanged"] == 4
    rpo = next(c for c in r["numbers"]["changed"] if c["old"]["text"] == "4550亿美元")
    assert "剩余履约义务" in rpo["context"] and rpo["new"]["normalized"] == "5230亿 USD"
    # the 数据核验 appendix and the front matter are not read as claims
    assert all("source_count" not in n["context"] for n in r["numbers"]["added"])


def test_sources_added_and_dropped():
    r = diff_files(OLD, NEW)
    assert r["sources"]["added"] == [{"url": "https://example.com/cowos", "title": "先进封装产能追踪"}]
    assert r["sources"]["dropped"] == []
    assert r["sources"]["kept"] == 4  # the trailing slash on the Oracle URL is the same source
    back = diff_files(NEW, OLD)
    assert [s["url"] for s in back["sources"]["dropped"]] == ["https://example.com/cowos"]
    assert {(c["old"]["text"], c["new"]["text"]) for c in back["numbers"]["changed"]} >= {("5230亿美元", "4550亿美元")}


def test_identical_reports_have_no_changes():
    text = OLD.read_text(encoding="utf-8")
    r = diff_texts(text, text)
    s = r["summary"]
    assert (s["numbers_changed"], s["numbers_added"], s["numbers_removed"]) == (0, 0, 0)
    assert (s["sources_added"], s["sources_dropped"]) == (0, 0) and s["numbers_unchanged"] == 8  # with 三家


def test_source_titles_from_lists_and_links():
    text = "## 参考\n\n* 标题甲 : https://a.example/x\n2. 标题乙，出版方：https://b.example/y/\n- [标题丙](https://c.example/z)\n"
    assert sources_of(text) == {"https://a.example/x": "标题甲", "https://b.example/y": "标题乙，出版方",
                                "https://c.example/z": "标题丙"}


def test_readable_output():
    out = format_text(diff_files(OLD, NEW))
    assert "数值 numbers: 3 changed, 1 added, 1 removed, 4 unchanged" in out
    assert "  ~ 4550亿美元 → 5230亿美元    甲骨文披露其剩余履约义务达到〔5230亿美元〕" in out
    assert "  + 9万片" in out and "  - 约945" in out
    assert "来源 sources: 1 added, 0 dropped, 4 kept" in out and "  + 先进封装产能追踪  https://example.com/cowos" in out


def test_cli_json_and_bad_input(yanbao, tmp_path):
    res = yanbao("diff", str(OLD), str(NEW), "--json")
    assert res.code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["summary"]["numbers_changed"] == 3 and data["old"] == str(OLD)
    res = yanbao("diff", str(OLD), str(NEW))
    assert res.code == 0 and "4550亿美元 → 5230亿美元" in res.stdout

    (tmp_path / "bin.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    (tmp_path / "folder").mkdir()
    for args, words in (
        (["missing.md", str(NEW)], ["missing.md", "no such file"]),
        ([str(OLD), "bin.md"], ["bin.md", "binary"]),
        (["folder", str(NEW)], ["folder", "is a folder"]),
    ):
        res = yanbao("diff", *args)
        assert res.code == 2, res
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("yanbao: ") and res.stdout == ""
        for w in words:
            assert w in res.stderr, (w, res.stderr)
