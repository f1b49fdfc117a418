"""Fixtures for the digest and commentary kinds: the CLI as a subprocess (as users run it), a copy of the
fixture corpus, the project's own corpus, and a one-page local web site for the digest's URL items."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# A news page of our own words (served by `news_site`), about the fixture corpus's export-control story.
NEWS_PAGE = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>出口管制新规下的加速器市场</title></head><body><article>
<h1>出口管制新规下的加速器市场</h1>
<p>美国收紧先进芯片出口管制之后，面向中国市场的高端GPU供应明显减少，多家云厂商开始调整采购计划。</p>
<p>英伟达表示，出口限制使其在2026财年第一季度计提了45亿美元的相关费用，这一数字高于市场此前的预期。</p>
<p>国产加速器厂商因此获得了更多替代订单，但软件生态和产能爬坡仍是它们需要跨过的门槛。</p>
<p>分析人士认为，政策的不确定性会让采购方更倾向于分散供应来源，并在推理场景优先尝试国产方案。</p>
</article></body></html>"""




@pytest.fixture
def news_site() -> Iterator[str]:
    """A local web site serving NEWS_PAGE at /news/export-controls.html (and 404 elsewhere); yields its
    base URL. The CLI needs --allow-private to read it (it is on 127.0.0.1)."""
    body = NEWS_PAGE.encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
            if self.path == "/news/export-controls.html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

