"""The 数据核验 appendix: compact (a summary line, the claims that are not verified as a table, one line
per verified source sentence, capped at 15 % of the report), the full evidence in `<stem>.check.json`
(what `yanbao check --json` says) and in the HTML page's `<details>` block, and run-scoped facts, so
that a rerun's appendix depends only on the run's own sources."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jinja2
import pytest
from clikit import FIXTURE_CORPUS, PROJECT_SOURCES, run_cli
from fake_ollama import default_content
from test_publish_html import assert_inert

from pipeline.documents import read_document
from pipeline.facts.check import check_text, format_value
from pipeline.facts.store import FactStore
from pipeline.kinds.contract import Composed
from pipeline.kinds.digest.kind import UNRATED, Item, Stars
from pipeline.kinds.digest.rules import stars_text
from pipeline.kinds.prompting import Journal
from pipeline.models import SearchResult
from pipeline.run.data_check import SHARE, TEMPLATE, appendix, appendix_view, evidence_json
from pipeline.run.publish import STYLESHEET, to_html
from pipeline.run.render import TEMPLATES_DIR, md_inline
from pipeline.run.runner import checked_report
from pipeline.run.verify import RUN_FACTS, Verifier

HEADING = "\n## 数据核验"
SOURCES = {
    "https://example.com/oracle-q1": (
        "甲骨文财报",
        "甲骨文（Oracle）公布了新一季财报：截至2025年8月31日，剩余履约义务（RPO）达到4550亿美元，"
        "同比增长359%。云基础设施收入为33亿美元，同比增长55%。",
    ),
    "https://example.com/port": ("港口统计", "宁波港的年货物吞吐量为13.2亿吨，集装箱吞吐量为3530万标箱。"),
}
# verified, contradicted (the source says 359%), unsupported, and verified again on the same source sentence
BODY = (
    "# 报告\n\n## 正文\n\n甲骨文RPO约4550亿美元，同比增长395%，某港口贸易额为1234亿美元。"
    "甲骨文云基础设施收入为33亿美元，同比增长55%。\n"
)


@pytest.fixture(scope="module")
def store() -> FactStore:
    s = FactStore(":memory:")
    for url, (title, text) in SOURCES.items():
        s.import_text(text, title=title, url=url)
    return s


def appendix_of(report: str) -> str:
    return report[report.index(HEADING) + 1 :]


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| 原文")]


def verified_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- 「")]


# -- the appendix as an editor reads it -------------------------------------------------------------


def test_summary_table_of_what_is_not_verified_and_one_line_per_source_sentence(store):
    checks = check_text(BODY, store).to_json()
    assert [c["status"] for c in checks["claims"]] == ["verified", "contradicted", "unsupported", "verified", "verified"]
    text = appendix(checks, BODY, "r.check.json", share=1.0)
    lines = text.splitlines()
    assert lines[0] == "## 数据核验"
    assert lines[2] == "共 5 处数值：已核实 3，存在出入 1，未找到来源 1。逐项证据见 `r.check.json`。"
    assert lines[lines.index("| 原文 | 状态 | 来源与原文摘录 |") + 1] == "|---|---|---|"
    rows = table_rows(text)
    # contradicted first, with the source's own figure and sentence; the report's words around the claim
    assert rows[0].startswith("| 同比增长**395%** | 存在出入 | 来源为 359%：甲骨文财报「")
    assert "同比增长359%" in rows[0]
    assert rows[1] == "| 某港口贸易额为**1234亿美元** | 未找到来源 | — |"
    assert len(rows) == 2
    # the verified ones: each source sentence once, the figures it backs after it
    assert verified_lines(text) == [
        "- 「甲骨文（Oracle）公布了新一季财报：截至2025年8月31日，剩余履约义务（RPO）达到4550亿美元，同比增长359%」"
        "（甲骨文财报）：约4550亿美元",
        "- 「云基础设施收入为33亿美元，同比增长55%」（甲骨文财报）：33亿美元、55%",
    ]
    assert "另有" not in text


def test_the_layout_does_not_depend_on_jinja_whitespace_settings(store):
    checks = check_text(BODY, store).to_json()
    view = appendix_view(checks, BODY, "r.check.json")
    view.update(more_lines=1, more_claims=2)
    outs = []
    for trim in (False, True):
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), trim_blocks=trim, lstrip_blocks=trim)
        env.filters.update(md_inline=md_inline, fmt_value=format_value)
        outs.append(env.get_template(TEMPLATE).render(check=view))
    assert outs[0] == outs[1]
    assert "- 另有 1 句来源原句（2 处数值）未逐句列出，见 `r.check.json`。" in outs[0]


def test_web_text_stays_inside_its_cell(store):
    checks = check_text(BODY, store).to_json()
    contradicted = next(c for c in checks["claims"] if c["status"] == "contradicted")
    contradicted["evidence"][0]["source"] = "标题 | 含竖线 <script>"
    contradicted["evidence"][0]["quote"] = "第一行 | [链接](javascript:x)\n## 第二行"
    rows = table_rows(appendix(checks, BODY, None, share=1.0))
    assert "标题 \\| 含竖线 \\<script\\>" in rows[0] and "第一行 \\| \\[链接\\](javascript:x) \\#\\# 第二行" in rows[0]
    for row in rows:  # escaped pipes keep every row at three cells
        assert row.replace("\\|", "").count("|") == 4


def test_no_claims():
    empty = {"claims": [], "summary": {"verified": 0, "contradicted": 0, "unsupported": 0}}
    assert appendix(empty, "# 报告\n\n正文\n", "r.check.json") == "## 数据核验\n\n共 0 处数值：已核实 0，存在出入 0，未找到来源 0。"


def _claim(i: int, status: str = "verified", **evidence) -> dict:
    ev = {"source": f"来源{i % 7}", "quote": f"第{i}句来源原文，数值为{i}亿元，且同比增长{i}%", "value": float(i), **evidence}
    return {"text": f"{i}亿元", "start": 10 * i, "end": 10 * i + 4, "value": i * 1e8, "value_hi": None, "unit": "CNY",
            "approx": False, "status": status, "evidence": [ev] if status != "unsupported" else []}


def test_derived_figures_show_their_formula():
    derived = {"basis": "derived", "formula": "4550亿 USD / 1090亿 USD = 417.4%", "value": 417.4}
    claims = [_claim(1, **derived), _claim(2, "contradicted", **derived)]
    checks = {"claims": claims, "summary": {"verified": 1, "contradicted": 1, "unsupported": 0}}
    text = appendix(checks, "x" * 400, None, share=1.0)
    assert "：1亿元（推算：4550亿 USD / 1090亿 USD = 417.4%）" in verified_lines(text)[0]
    assert "| 存在出入 | 来源为 4550亿 USD / 1090亿 USD = 417.4%：来源2「" in table_rows(text)[0]


def test_the_verified_lines_are_capped_at_the_share_and_counted():
    claims = [_claim(i) for i in range(1, 121)] + [_claim(200, "unsupported"), _claim(201, "unsupported")]
    checks = {"claims": claims, "summary": {"verified": 120, "contradicted": 0, "unsupported": 2}}
    body = "正文。" * 3000
    text = appendix(checks, body, "r.check.json")
    report = body.rstrip("\n") + "\n\n" + text
    assert len(text) <= SHARE * len(report)
    shown = verified_lines(text)
    assert 0 < len(shown) < 120
    assert text.endswith(f"- 另有 {120 - len(shown)} 句来源原句（{120 - len(shown)} 处数值）未逐句列出，见 `r.check.json`。")
    assert len(table_rows(text)) == 2  # what is not verified is never left out


def test_the_same_unverified_figure_repeated_is_one_row():
    body = "港口贸易额为5亿元。" * 2 + "吞吐量为5亿元。"
    at = [m.start() for m in re.finditer("5亿元", body)]
    claims = [{**_claim(5, "unsupported"), "text": "5亿元", "start": a, "end": a + 3} for a in at]
    checks = {"claims": claims, "summary": {"verified": 0, "contradicted": 0, "unsupported": 3}}
    assert table_rows(appendix(checks, body, None, share=1.0)) == [
        "| 港口贸易额为**5亿元**（2 处） | 未找到来源 | — |",
        "| 吞吐量为**5亿元** | 未找到来源 | — |",
    ]


def _digest_of(judgements: list[str]) -> Composed:
    """A digest of one item per judgement (the real template and the real Stars), all on the same
    sources, each item's only number-bearing line its judgement."""
    refs = [SearchResult(title=title, url=url, content=text) for url, (title, text) in SOURCES.items()]
    items = [Item(index=i, given=f"条目{i}", form="topic", sources=refs) for i in range(1, len(judgements) + 1)]
    views = [
        {"index": it.index, "uncovered": "", "emoji": "📰", "headline": it.given, "date": "（未注明）",
         "publisher": "测试", "url": "https://example.com/", "category": "行业动态", "stars": UNRATED,
         "thesis": it.given, "question": None, "metrics": [], "no_metrics": "（暂无经核实的数据）",
         "judgements": {"points": [text]}, "parts": [], "conclusion": "见上", "references": [],
         "log": ["首次生成"], "why": {"question": "无可用资料"}}
        for it, text in zip(items, judgements, strict=True)
    ]
    entries = [{"item": it.given} for it in items]
    context = {"feed_title": "汇总", "items": views, "failed": []}
    return Composed(template="digest.md.j2", context=context, refs=refs, rating=Stars(items, views, entries))


def test_stars_count_the_claims_of_their_own_item_and_the_check_indexes_the_report_as_written(monkeypatch):
    """The report is checked once; each item's stars count the claims of its own section; contradicted
    claims get their ⚠; the check that the appendix and check.json show is of the text as written
    (checked again, because the marks moved it)."""
    composed = _digest_of(["甲骨文RPO约4550亿美元，同比增长395%。", "宁波港的年货物吞吐量为13.2亿吨。"])
    verifier = Verifier(RUN_FACTS, Journal())
    checked = []
    check = verifier.check
    monkeypatch.setattr(verifier, "check", lambda body: checked.append(body) or check(body))
    view = {**composed.context, "notices": [], "manifest_name": "run.json"}
    body, checks, rated = checked_report(verifier, composed, view)

    first, second = rated["items"]
    assert (first["credibility"]["verified"], first["credibility"]["contradicted"]) == (1, 1)
    assert (second["credibility"]["verified"], second["credibility"]["contradicted"]) == (1, 0)
    stars = [line for line in body.splitlines() if line.startswith("**可信度评分：**")]
    assert stars == [f"**可信度评分：** {stars_text(first['credibility']['stars'])}",
                     f"**可信度评分：** {stars_text(second['credibility']['stars'])}"]
    assert first["credibility"]["stars"] <= 3 < second["credibility"]["stars"]  # a contradiction caps the score
    assert rated["credibility"] == {"stars": first["credibility"]["stars"],
                                    "items": [first["credibility"]["stars"], second["credibility"]["stars"]]}
    assert "395%⚠" in body and "\x1e" not in body
    assert checks["summary"] == {"verified": 2, "contradicted": 1, "unsupported": 0}
    for c in checks["claims"]:
        assert body[c["start"] : c["end"]] == c["text"]
    assert len(checked) == 2 and checked[1] == body  # the draft, then the marked report as written
    assert Verifier(RUN_FACTS, Journal()).store.count() == (0, 0)  # each run's store starts empty


def test_a_report_without_contradictions_is_checked_once(monkeypatch):
    composed = _digest_of(["宁波港的年货物吞吐量为13.2亿吨。", "甲骨文云基础设施收入为33亿美元。"])
    verifier = Verifier(RUN_FACTS, Journal())
    checked = []
    check = verifier.check
    monkeypatch.setattr(verifier, "check", lambda body: checked.append(body) or check(body))
    view = {**composed.context, "notices": [], "manifest_name": "run.json"}
    body, checks, rated = checked_report(verifier, composed, view)
    assert [e["credibility"]["verified"] for e in rated["items"]] == [1, 1]
    assert body.count("**可信度评分：** ★") == 2 and UNRATED not in body
    assert len(checked) == 1 and checked[0] != body  # the draft with ☆☆☆☆☆: the same claims, the same offsets
    for c in checks["claims"]:
        assert body[c["start"] : c["end"]] == c["text"]
    assert checks == verifier.check(body).to_json()


# -- HTML --------------------------------------------------------------------------------------------


def test_html_has_the_evidence_in_details_and_short_cells_do_not_wrap(store):
    checks = check_text(BODY, store).to_json()
    checks["claims"][0]["evidence"][0]["quote"] = "<script>alert(1)</script> | <details open ontoggle=alert(1)>"
    report = BODY + "\n" + appendix(checks, BODY, "r.check.json", share=1.0) + "\n"
    page = to_html(report, checks=checks)
    body = page.split("<main>", 1)[1]
    assert body.count("<details>") == 1 and "<summary>全部 5 处数值的核验证据</summary>" in body
    details = body[body.index("<details>") : body.index("</details>")]
    assert details.count("<tr>") == 6 and "<th>规范化数值</th>" in details and "<td>4550亿 USD</td>" in details
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | &lt;details open ontoggle=alert(1)&gt;" in details
    assert_inert(page)  # web text in the evidence is text: no tag, no attribute but the allowed ones
    # the appendix's own table and the evidence table are data-check tables; their short cells stay on one line
    assert body.count('<table class="data-check">') == 2
    assert re.search(r"table\.data-check td:not\(:last-child\) \{ white-space: nowrap; \}", STYLESHEET)
    # without the check (another caller's markdown) there is no evidence block
    assert "<details>" not in to_html(report)


def test_only_the_data_check_tables_get_the_class():
    md = "# 报告\n\n## 正文\n\n| 指标 | 数值 |\n|---|---|\n| 营收 | 1亿元 |\n\n## 数据核验\n\n| 原文 | 状态 |\n|---|---|\n| 1亿元 | 未找到来源 |\n"
    body = to_html(md).split("<main>", 1)[1]
    assert body.count("<table>") == 1 and body.count('<table class="data-check">') == 1
    assert body.index("<table>") < body.index('<table class="data-check">')
    hostile = to_html('# 报告\n\n<table class="data-check x" onclick="y"><tr><td>1</td></tr></table>\n<p class="data-check">t</p>\n')
    assert 'class="data-check x"' not in hostile and '<p class="' not in hostile and "onclick" not in hostile


# -- runs --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> tuple:
    """The default research report of the README (extractive engine, local corpus), as --format md,html."""
    cwd = tmp_path_factory.mktemp("default")
    res = run_cli("run", "人工智能发展趋势", "--llm", "extractive", "--search", "local", "--sources", str(PROJECT_SOURCES),
                  "--out", "out", "--quiet", "--format", "md,html", cwd=cwd, timeout=300)
    assert res.code == 0, res.stderr
    return res


def test_default_report_appendix_is_at_most_15_percent(default_report):
    text = default_report.text
    app = appendix_of(text)
    assert len(app) <= 0.15 * len(text), (len(app), len(text))
    checks = json.loads(default_report.report.with_name(default_report.report.name[:-3] + ".check.json").read_text())
    assert checks["summary"] == default_report.manifest["checks"]
    s = checks["summary"]
    assert f"共 {len(checks['claims'])} 处数值：已核实 {s['verified']}，存在出入 {s['contradicted']}，未找到来源 {s['unsupported']}。" in app
    # every claim that is not verified is in the table; every verified source sentence is quoted once
    rows = "\n".join(table_rows(app))
    for c in checks["claims"]:
        if c["status"] != "verified":
            assert f"**{md_inline(c['text'])}**" in rows
    quotes = [line.split("」（", 1)[0] for line in verified_lines(app)]
    assert quotes and len(quotes) == len(set(quotes))
    for q in quotes:
        assert app.count(q) == 1
    groups = {(c["evidence"][0]["source"], c["evidence"][0]["quote"]) for c in checks["claims"] if c["status"] == "verified"}
    more = re.search(r"另有 (\d+) 句来源原句（(\d+) 处数值）", app)
    assert len(quotes) + (int(more.group(1)) if more else 0) == len(groups)


def test_default_report_files_html_and_manifest(default_report):
    report = default_report.report
    stem = report.name[:-3]
    files = default_report.stdout.splitlines()
    assert [Path(f).name for f in files] == [f"{stem}.html", f"{stem}.check.json", f"{stem}.run.json", f"{stem}.md"]
    assert str(report.with_name(f"{stem}.check.json")) in default_report.manifest["outputs"]
    assert oct(report.with_name(f"{stem}.check.json").stat().st_mode & 0o777) == oct(report.stat().st_mode & 0o777)
    page = report.with_name(f"{stem}.html").read_text(encoding="utf-8")
    checks = json.loads(report.with_name(f"{stem}.check.json").read_text(encoding="utf-8"))
    details = page[page.index("<details>") : page.index("</details>")]
    assert details.count("<tr>") == len(checks["claims"]) + 1
    assert '<table class="data-check">' in details and "white-space: nowrap" in page


def _used_documents(corpus: Path, manifest: dict) -> list[Path]:
    used = {u for w in manifest["workers"] for u in w["sources"]}
    docs = [p for p in sorted(corpus.glob("*.md")) if read_document(p).url in used]
    assert docs
    return docs


def test_check_json_is_what_yanbao_check_says(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, corpus)
    res = run_cli("run", "云厂商资本开支", "--llm", "extractive", "--search", "local", "--sources", str(corpus),
                  "--out", "out", "--quiet", "--front-matter", cwd=tmp_path)
    assert res.code == 0, res.stderr
    written = res.report.with_name(res.report.name[:-3] + ".check.json").read_text(encoding="utf-8")
    assert res.text.startswith("---\n")  # offsets index the file as written, front matter included
    data = json.loads(written)
    for c in data["claims"]:
        assert res.text[c["start"] : c["end"]] == c["text"]
    # the same report and the run's sources, through `yanbao check`: the same JSON, byte for byte
    mine = tmp_path / "run-sources"
    mine.mkdir()
    for doc in _used_documents(corpus, res.manifest):
        shutil.copy(doc, mine / doc.name)
    cli = run_cli("check", str(res.report), "--sources", str(mine), "--facts", str(tmp_path / "check.db"), "--json",
                  cwd=tmp_path)
    assert cli.code == 0, cli.stderr
    assert cli.stdout == written
    assert data["summary"] == res.manifest["checks"]


def test_evidence_json_moves_offsets_by_the_front_matter():
    checks = {"claims": [_claim(1)], "summary": {"verified": 1, "contradicted": 0, "unsupported": 0}}
    moved = json.loads(evidence_json(checks, offset=7))
    assert (moved["claims"][0]["start"], moved["claims"][0]["end"]) == (17, 21) and checks["claims"][0]["start"] == 10
    assert json.loads(evidence_json(checks)) == checks


def test_a_rerun_sees_only_its_own_sources(fake_ollama, tmp_path):
    """The model writes a figure no source of the run states. Between two runs another document that
    states it reaches the shared facts store (`yanbao facts import`, or another run): the rerun's
    check must not see it, so both appendices (and check.json) are the same."""
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, corpus)
    other = tmp_path / "other"
    other.mkdir()
    (other / "port.md").write_text(
        "---\ntitle: 港口统计\nurl: https://example.com/port\n---\n宁波港的年货物吞吐量为13.2亿吨，集装箱吞吐量为3530万标箱。\n",
        encoding="utf-8",
    )
    fake_ollama.responder = lambda req: default_content(req).replace(
        "算力需求持续增长，推理成为新的重点。", "宁波港的年货物吞吐量为13.2亿吨。")
    args = ["run", "人工智能发展趋势", "--llm", "ollama", "--ollama-host", fake_ollama.url, "--search", "local",
            "--sources", str(corpus), "--out", "out", "--breadth", "2", "--max-loops", "1", "--quiet"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.code == 0, first.stderr
    imported = run_cli("facts", "import", str(other), "--facts", "out/facts.db", cwd=tmp_path)
    assert imported.code == 0, imported.stderr
    second = run_cli(*args, cwd=tmp_path)
    assert second.code == 0, second.stderr
    assert second.report != first.report

    def appendix_and_evidence(res) -> tuple[str, str]:
        stem = res.report.name[:-3]
        evidence = res.report.with_name(f"{stem}.check.json").read_text(encoding="utf-8")
        return appendix_of(res.text).replace(stem, "STEM"), evidence

    a, b = appendix_and_evidence(first), appendix_and_evidence(second)
    assert "**13.2亿吨**" in a[0] and "未找到来源" in a[0]  # the figure no source of the run states
    assert a == b
    assert "港口统计" not in b[1]
