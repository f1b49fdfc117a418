"""`yanbao run --format md,html [--front-matter]` end to end, with hostile sources."""

from __future__ import annotations

from pathlib import Path

import yaml
from test_publish_html import assert_inert, body_of

from pipeline.run.publish import strip_front_matter


def run_args(sources: Path, *extra: str) -> list[str]:
    return ["run", "数据中心算力", "--llm", "extractive", "--search", "local", "--sources", str(sources),
            "--out", "out", "--breadth", "1", "--max-loops", "1", "--quiet", *extra]


def test_hostile_sources_never_reach_the_html(hostile_corpus, yanbao, tmp_path):
    res = yanbao(*run_args(hostile_corpus, "--format", "md,html", "--front-matter"))
    assert res.code == 0, res.stderr
    md_path = Path(res.stdout.strip().splitlines()[-1])
    html_path = md_path.with_name(md_path.name[:-3] + ".html")
    assert html_path.is_file()
    page = html_path.read_text(encoding="utf-8")
    assert_inert(page)
    # the hostile titles did reach the report, as text: escaped, inert
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body_of(page)
    attrs = _attrs(page)
    for needle in ("javascript:", "vbscript:", "data:", "onerror", "onload", "style", "%3cscript"):
        assert needle not in attrs, needle
    assert "<h2>数据核验</h2>" in page and "<table class=\"data-check\">" in page and "<details>" in page

    # the markdown: front matter first, parseable, escaped by YAML; the report follows unchanged
    md = md_path.read_text(encoding="utf-8")
    assert md.startswith("---\n")
    meta = yaml.safe_load(md[4 : md.index("\n---\n", 4)])
    assert meta["title"] == "数据中心算力" and meta["kind"] == "research" and meta["tags"] == ["research"]
    assert meta["source_count"] >= 1 and "credibility" not in meta
    assert strip_front_matter(md).startswith("# 主管架构研究报告")
    manifest = md_path.with_name(md_path.name[:-3] + ".run.json").read_text(encoding="utf-8")
    assert str(html_path) in manifest  # listed in the manifest's outputs


def _attrs(page: str) -> str:
    from test_publish_html import _tags

    return " ".join(str(a) for _, a in _tags(page)).lower()


def test_default_is_markdown_only_without_front_matter(hostile_corpus, yanbao, tmp_path):
    res = yanbao(*run_args(hostile_corpus))
    assert res.code == 0, res.stderr
    md_path = Path(res.stdout.strip().splitlines()[-1])
    assert md_path.read_text(encoding="utf-8").startswith("# 主管架构研究报告\n")
    assert not list((tmp_path / "out").glob("*.html"))


def test_unknown_format_is_one_line_exit_2(yanbao, tmp_path):
    res = yanbao("run", "数据中心算力", "--format", "md,pdf")
    assert res.code == 2
    assert res.stderr.count("\n") == 1 and "unknown format 'pdf'" in res.stderr and "md, html" in res.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").glob("*.md"))
