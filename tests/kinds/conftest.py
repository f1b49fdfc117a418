"""Fixtures for the digest and commentary kinds: the CLI as a subprocess (as users run it), a copy of the
fixture corpus, the project's own corpus, and a one-page local web site for the digest's URL items."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kindkit import NEWS_PAGE


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

