"""The generated HTML in a real browser: headless Chromium renders the tables and the 数据核验 section,
and nothing hostile appears in the live DOM. Skips when Chromium is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hostile_html import HOSTILE
from test_publish_html import REF_HREF, _tags

from pipeline.run.publish import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, to_html
from pipeline.run.render import md_inline

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
                 if p and Path(p).is_file()), None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_chromium_renders_tables_and_data_check(tmp_path):
    report = (FIXTURES / "report-old.md").read_text(encoding="utf-8")
    # web text as the templates write it, plus the same strings raw (as if escaping had been skipped)
    extra = "\n".join(f"- {md_inline(h)}\n- {h}" for h in HOSTILE)
    report = report.replace("## 最终综合报告", f"## 来源摘录\n\n{extra}\n\n## 最终综合报告")
    page = tmp_path / "report.html"
    page.write_text(to_html(report), encoding="utf-8")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )
    dom = proc.stdout
    assert proc.returncode == 0 and "<main>" in dom, proc.stderr[-2000:]
    assert len(re.findall(r"<table[ >]", dom)) == 1  # the fixture's data-check table
    assert '<table class="data-check">' in dom
    assert "<h2>数据核验</h2>" in dom and "<th>规范化数值</th>" in dom and "<td>4550亿美元</td>" in dom
    assert re.search(r"<title>主管架构研究报告</title>", dom)
    # the live DOM, after parsing and layout: only allow-listed tags and attributes, safe links
    tags = _tags(dom)
    assert len(tags) > 50
    for tag, attrs in tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set()), (tag, name)
            if name == "href":
                assert value.startswith(("http://", "https://", "mailto:")) or REF_HREF.fullmatch(value), value
            if name == "id":
                assert tag == "li" and REF_HREF.fullmatch("#" + value), (tag, value)
    assert sum(1 for t, _ in tags if t == "li") >= 2 * len(HOSTILE)
    # the fixture's citations link to the entries of its reference list, which carry the ids. Not [1]:
    # one raw hostile string defines `[1]: javascript:…`, so Python-Markdown makes `[1]` that reference
    # link and the sanitizer drops its href (in a real report that text arrives escaped, inert).
    cites = [a["href"] for t, a in tags if t == "a" and a.get("href", "").startswith("#")]
    assert cites == ["#ref-2", "#ref-3", "#ref-3", "#ref-4", "#ref-3"], cites
    assert [a["id"] for t, a in tags if t == "li" and "id" in a] == ["ref-1", "ref-2", "ref-3", "ref-4"]
    assert re.search(r'<li id="ref-1">甲骨文季度业绩要点', dom)
    assert re.search(r'<a href="#ref-4"[^>]*>\[4\]</a>', dom)
