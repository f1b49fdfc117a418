"""A research round reads the pages behind its search hits: page text replaces the snippet, goes to
the prompt as quoted data, is recorded and cached in the run store, and feeds the facts store with
its URL as provenance; a page that fails is recorded and the round goes on with the snippet."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.kinds.prompting import Journal, StageEnv
from pipeline.kinds.research.worker import run_worker
from pipeline.llm.base import Options
from pipeline.llm.ollama import OllamaLLM
from pipeline.models import SearchResult
from pipeline.run.store import RecordingFetcher, RecordingLLM, RecordingSearch, RunStore, fetch_errors
from pipeline.run.verify import Verifier
from pipeline.search.fetch import Fetcher

ARTICLE = """<html><head><meta charset="utf-8"><title>液冷数据中心加速普及</title></head><body>
<nav>首页 | 科技 | 财经 | 登录</nav>
<article><h1>液冷数据中心加速普及</h1>
<p>某咨询机构的报告显示，2025年中国液冷数据中心市场规模达到370亿元，同比增长超过50%。</p>
<p>报告认为，单机柜功率密度提升是液冷渗透率上升的主要原因，新建智算中心普遍采用冷板式液冷方案。</p>
<p>业内人士预计，到2027年液冷在新建数据中心中的渗透率将超过40%，带动相关设备需求持续增长。</p>
</article><footer>版权所有 联系我们</footer></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/robots.txt" or self.path != "/article":
            self.send_response(404)
            self.end_headers()
            return
        body = ARTICLE.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class WebSearch:
    """A web search backend behind the real interface, answering with pages of the local site."""

    engine = "duckduckgo"

    def __init__(self, base: str) -> None:
        self.base = base

    def cache_identity(self) -> dict:
        return {"engine": "test-web"}

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        return [
            SearchResult(title="液冷数据中心加速普及", url=f"{self.base}/article", snippet="液冷市场增长。", engine="duckduckgo"),
            SearchResult(title="失效页面", url=f"{self.base}/gone", snippet="液冷相关的旧闻摘要。", engine="duckduckgo"),
        ]


def test_pages_are_read_quoted_recorded_and_become_facts(site, fake_ollama, tmp_path: Path):
    store = RunStore(tmp_path / "yanbao.db")
    run_id = store.start_run("数据中心液冷", "research", {})
    journal = Journal()
    engine = OllamaLLM(fake_ollama.url, "qwen2.5:7b", Options(num_ctx=4096, num_predict=256), backoff_s=0.01)
    env = StageEnv(
        llm=RecordingLLM(engine, store, run_id), journal=journal, prompt_tokens=3000,
        search=RecordingSearch(WebSearch(site), store, run_id),
        fetcher=RecordingFetcher(Fetcher(allow_private=True, cache=store, timeout_s=5), store, run_id),
        fetch_pages=3,
    )
    w = run_worker(env, "数据中心液冷", 1, "液冷市场规模", max_loops=1)

    page, gone = w.sources
    assert "370亿元" in page.content and "首页 | 科技" not in page.content  # main text, not the navigation
    assert gone.content == "" and gone.text == "液冷相关的旧闻摘要。"  # the snippet stands in
    fetches = store.calls(run_id, "fetch")
    assert sorted(c["outcome"] for c in fetches) == ["error", "ok"]
    assert fetch_errors(fetches) == [{"step": "research[1].loop1.fetch", "url": f"{site}/gone", "error": "HTTP 404"}]
    assert store.get("fetch", f"{site}/article|" + __import__("datetime").date.today().isoformat())

    summarize = next(r for r in fake_ollama.requests if "本轮资料中的关键句" in r["messages"][-1]["content"])
    prompt = summarize["messages"][-1]["content"]
    block = prompt.split("<<<来源[1] 开始>>>", 1)[1].split("<<<来源[1] 结束>>>", 1)[0]
    assert "370亿元" in block

    verifier = Verifier(tmp_path / "facts.db", journal)
    verifier.import_sources(w.sources)
    report = verifier.check("某咨询机构的报告显示，2025年中国液冷数据中心市场规模达到370亿元。")
    claim = report.claims[0]
    assert claim.status == "verified"
    assert any(site in e.source or "液冷数据中心加速普及" in e.source for e in claim.evidence)
