"""The shipped corpus says where every document and every curated figure comes from.

`sources/` is illustrative: each document is written for this project from public reports and says so
(`note`), names the publisher and date of the original it summarises, and either gives that exact
report's address (`url`) or names the report(s) in words (`basis`). `facts.yaml` points each curated
figure at the document that states it, and the loader attributes the figure exactly as the document
itself is attributed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from pipeline.documents import iter_source_files, read_document
from pipeline.facts.extract import decimal_text, extract_claims, parse_quantity, unit_class
from pipeline.facts.store import FactsError, FactStore

SOURCES = Path(__file__).resolve().parents[2] / "sources"
NOTE = "本文为示例语料，据公开报道整理"
DOCS = {p.name: read_document(p) for p in iter_source_files(SOURCES)}
CURATED = yaml.safe_load((SOURCES / "facts.yaml").read_text(encoding="utf-8"))["facts"]


def test_the_corpus_is_there():
    assert len(DOCS) >= 30 and len(CURATED) >= 100


@pytest.mark.parametrize("name", sorted(DOCS))
def test_document_says_what_it_is(name):
    meta = DOCS[name].meta
    assert isinstance(meta.get("title"), str) and meta["title"].strip(), f"{name}: title"
    assert isinstance(meta.get("publisher"), str) and meta["publisher"].strip(), f"{name}: publisher"
    date = meta.get("date")
    assert isinstance(date, dt.date) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(date)), f"{name}: date {date!r}"
    assert meta.get("note") == NOTE, f"{name}: note must be {NOTE!r}"
    basis = meta.get("basis")
    if basis is not None:
        items = [basis] if isinstance(basis, str) else basis
        assert isinstance(items, list) and items, f"{name}: basis must name the original report(s)"
        assert all(isinstance(b, str) and len(b.strip()) >= 6 for b in items), f"{name}: basis {basis!r}"
        undated = [b for b in items if not re.search(r"(?:19|20)\d\d", b)]
        assert not undated, f"{name}: every original named in basis carries its date: {undated}"
    url = meta.get("url")
    if url is None:
        assert basis, f"{name}: without a url, basis must name the original report in words"
    else:
        parts = urlparse(url)
        segments = [s for s in parts.path.split("/") if s]
        # The exact page of one report: not a homepage, an investor-relations landing page or a section.
        assert parts.scheme == "https" and parts.netloc, f"{name}: url {url!r}"
        assert len(segments) >= 2 and not parts.query, f"{name}: {url!r} is not a specific report's page"


def test_no_two_documents_claim_the_same_original_page():
    urls = [d.meta["url"] for d in DOCS.values() if d.meta.get("url")]
    assert len(urls) == len(set(urls))


def _written(f: dict) -> str:
    hi = f.get("value_hi")
    return ("约" if f.get("approx") else "") + decimal_text(f["value"]) + (f"-{decimal_text(hi)}" if hi is not None else "") + f["unit"]


def _sentence(text: str, start: int, end: int) -> str:
    s = max(text.rfind(ch, 0, start) for ch in "。！？\n") + 1
    ends = [j for j in (text.find(ch, end) for ch in "。！？\n") if j >= 0]
    return text[s : min(ends) if ends else len(text)]


@pytest.mark.parametrize("i", range(len(CURATED)), ids=lambda i: f"{i}-{CURATED[i]['entity']}-{_written(CURATED[i])}")
def test_curated_figure_is_in_its_document(i):
    f = CURATED[i]
    name = f["source"]
    assert name in DOCS, f"facts[{i}].source {name!r} is not a document of sources/ (give its file name)"
    body = DOCS[name].body
    q = parse_quantity(_written(f))
    assert q is not None
    same = [
        c for c in extract_claims(body)
        if unit_class(c.unit) == unit_class(q.unit)
        and math.isclose(c.value, q.value, rel_tol=1e-9)
        and (c.value_hi is None) == (q.value_hi is None)
        and (q.value_hi is None or math.isclose(c.value_hi, q.value_hi, rel_tol=1e-9))
    ]
    assert same, f"facts[{i}] {_written(f)} ({f['entity']} {f['metric']}) is not stated in {name}"
    names = [n.casefold() for n in (f["entity"], *f.get("aliases", []))]
    assert any(n in _sentence(body, c.start, c.end).casefold() for c in same for n in names), (
        f"facts[{i}] {_written(f)} is in {name}, but never in a sentence naming {f['entity']} or an alias"
    )


# -- the loader: a facts.yaml `source` may be a document's file name -------------------------------

DOC_WITHOUT_URL = "---\ntitle: 甲公司年报摘要\npublisher: 甲公司\ndate: 2025-03-01\nbasis: 甲公司2024年年度报告\n---\n甲公司2024年营收为120亿元。\n"
DOC_WITH_URL = "---\ntitle: 乙公司公告\nurl: https://example.com/yi/2025-annual\n---\n乙公司2024年营收为80亿元。\n"


def _curated(source: str) -> str:
    return f"facts:\n  - entity: 甲公司\n    metric: 2024年营收\n    value: 120\n    unit: 亿元\n    source: {source}\n"


def test_a_file_name_source_is_attributed_like_the_document(tmp_path):
    (tmp_path / "a.md").write_text(DOC_WITHOUT_URL, encoding="utf-8")
    (tmp_path / "b.md").write_text(DOC_WITH_URL, encoding="utf-8")
    (tmp_path / "facts.yaml").write_text(
        _curated("a.md") + "  - entity: 乙公司\n    metric: 2024年营收\n    value: 80\n    unit: 亿元\n    source: b.md\n",
        encoding="utf-8",
    )
    store = FactStore(tmp_path / "facts.db")
    store.import_path(tmp_path)  # the documents, then their facts.yaml
    curated = {s.url for s in store.list_sources() if s.kind == "curated"}
    imported = {s.url for s in store.list_sources() if s.kind == "file"}
    assert curated == imported == {(tmp_path / "a.md").resolve().as_uri(), "https://example.com/yi/2025-annual"}
    assert {f.source_url for f in store.search("120亿元")} == {(tmp_path / "a.md").resolve().as_uri()}


def test_a_file_name_source_that_is_not_there_is_named_with_its_line(tmp_path):
    (tmp_path / "facts.yaml").write_text("# figures\n" + _curated("missing.md"), encoding="utf-8")
    store = FactStore(tmp_path / "facts.db")
    with pytest.raises(FactsError, match=r"facts\.yaml:3: facts\[0\]\.source: .*missing\.md"):
        store.load_curated(tmp_path / "facts.yaml")
    assert store.count() == (0, 0)


@pytest.mark.parametrize("source", ["example.com", "../outside.md", "/etc/motd.md", "报告"])
def test_a_source_is_still_a_url_or_a_document_name(tmp_path, source):
    (tmp_path / "facts.yaml").write_text(_curated(source), encoding="utf-8")
    with pytest.raises(FactsError, match=r"facts\.yaml:\d+: facts\[0\]\.source: expected an http\(s\) URL"):
        FactStore(tmp_path / "facts.db").load_curated(tmp_path / "facts.yaml")
