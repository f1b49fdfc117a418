"""A digest of a web page with the default settings (`--search auto`, `--fetch-pages 3`, no
`--allow-private`, no `--sources`): the page is read with the run's fetcher, every page the run reads is
recorded in the run store and cached there, and pages that could not be read are listed in run.json
from the run store. The web is a local test site (`tests/offline_web.py`); nothing reaches the internet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from clikit import ROOT, Result, assert_one_line_error, clean_env
from kindkit import NEWS_PAGE

from pipeline.run.store import RunStore

# A second page of the site, in our own words: what the fake web search finds besides the item's page.
RELATED_PAGE = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>云厂商调整加速器采购</title></head><body><article>
<h1>云厂商调整加速器采购</h1>
<p>出口管制收紧以后，国内云厂商把更多推理业务放到国产加速器上，同时继续采购可以合规进口的芯片。</p>
<p>一家云厂商的采购负责人表示，新的采购计划会把供应来源分散到三家以上的供应商，以降低政策变化带来的风险。</p>
<p>业内人士认为，软件生态的迁移成本仍然是国产加速器扩大份额的主要障碍，迁移周期通常需要半年以上。</p>
</article></body></html>"""
PAGES = {"/news/export-controls.html": NEWS_PAGE, "/news/procurement.html": RELATED_PAGE}


class Site:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
                site.hits[self.path] += 1
                page = PAGES.get(self.path)
                if page is None:
                    self.send_error(404)
                    return
                body = page.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def page_hits(self) -> int:
        return sum(n for path, n in self.hits.items() if path != "/robots.txt")


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    thread = threading.Thread(target=s.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()


def yanbao_offline(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """`yanbao ARGS` in `cwd` with a clean environment, the web being the local site (tests/offline_web.py)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "offline_web.py"), *args], cwd=cwd, env=clean_env(env),
        capture_output=True, text=True, timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def fetch_calls(res: Result) -> list[dict]:
    store = RunStore(res.report.parent / "yanbao.db")
    try:
        return store.calls(res.manifest["run_id"], "fetch")
    finally:
        store.close()


def test_digest_of_a_url_with_default_settings_is_recorded_and_cached(site, fake_ollama, tmp_path):
    """`yanbao digest URL` with nothing but the model's host set (no network: search falls back to the
    local corpus). It used to end in an AttributeError traceback."""
    page = f"{site.url}/news/export-controls.html"
    env = {"YANBAO_OLLAMA_HOST": fake_ollama.url}
    first = yanbao_offline(tmp_path, "digest", page, env=env)
    assert first.code == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert first.report.parent == tmp_path / "outputs"
    assert f"]({page})" in first.text and "\n## 数据核验" in first.text
    m = first.manifest
    assert m["config"]["search_engine"] == "auto" and m["config"]["fetch_pages"] == 3
    assert m["items"][0]["status"] == "done" and m["items"][0]["sources"][0] == page
    assert any(d["step"] == "search" and "answered from local sources" in d["reason"] for d in m["degraded"])
    assert m["search"]["fetches"] == 1 and m["search"]["fetch_errors"] == []
    (call,) = fetch_calls(first)
    assert (call["step"], call["outcome"], call["requests"]) == ("digest[1].fetch", "ok", 1)
    assert json.loads(call["detail"]) == {"url": page}
    assert site.page_hits() == 1

    again = yanbao_offline(tmp_path, "digest", page, env=env)  # the same day: the page comes from the cache
    assert again.code == 0, again.stderr
    assert again.report.name.endswith("-digest-2.md")
    (call,) = fetch_calls(again)
    assert (call["step"], call["outcome"], call["requests"]) == ("digest[1].fetch", "cached", 0)
    assert site.page_hits() == 1
    assert again.manifest["llm"]["calls"] == 0  # and so does every answer of the model


def test_run_kind_digest_reads_the_item_and_the_web_hits_pages_and_lists_the_failed_ones(site, fake_ollama, tmp_path):
    """`yanbao run --kind digest URL` with the default settings and a web search that answers: the item's
    page and the pages behind the search hits are read with one recorded fetcher; the page that is gone
    is in run.json's fetch_errors, taken from the run store."""
    page = f"{site.url}/news/export-controls.html"
    related, gone = f"{site.url}/news/procurement.html", f"{site.url}/news/gone.html"
    hits = [
        {"title": "云厂商调整加速器采购", "href": related, "body": "云厂商把更多推理业务放到国产加速器上。"},
        {"title": "旧闻", "href": gone, "body": "出口管制的旧闻摘要。"},
    ]
    env = {"YANBAO_OLLAMA_HOST": fake_ollama.url, "OFFLINE_WEB_HITS": json.dumps(hits, ensure_ascii=False)}
    res = yanbao_offline(tmp_path, "run", "--kind", "digest", page, env=env)
    assert res.code == 0, res.stderr
    m = res.manifest
    assert m["items"][0]["sources"] == [page, related, gone]
    assert m["search"]["fetch_errors"] == [{"step": "digest[1].search.fetch", "url": gone, "error": "HTTP 404"}]
    calls = {(c["step"], json.loads(c["detail"])["url"]): c["outcome"] for c in fetch_calls(res)}
    assert calls == {
        ("digest[1].fetch", page): "ok",
        ("digest[1].search.fetch", related): "ok",
        ("digest[1].search.fetch", gone): "error",
    }
    assert m["search"]["fetches"] == 3
    assert f"]({page})" in res.text and "云厂商调整加速器采购" in res.text  # the related page is a reference


def test_a_private_address_is_still_refused_with_default_settings(fake_ollama, tmp_path):
    """Only the test site counts as public: another private address is refused, recorded, and the item
    has no material (one line, exit 1)."""
    res = yanbao_offline(tmp_path, "digest", "http://10.0.0.1/news.html", env={"YANBAO_OLLAMA_HOST": fake_ollama.url})
    assert_one_line_error(res, 1, "no item could be written", "private address 10.0.0.1 refused")
