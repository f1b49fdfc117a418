"""A small local web site for the fetch tests: routes are Python functions, so each test can serve
exactly the misbehaviour it is about (slow headers, trickling bodies, raw header bytes, endless redirects).

Built on the standard library's ThreadingHTTPServer rather than pytest-httpserver because several tests
need to write raw bytes to the socket and to count requests that are in flight at the same time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PAGES = Path(__file__).parent / "pages"

Route = Callable[[BaseHTTPRequestHandler], None]


class Site:
    """One local HTTP server. `add()` serves fixed bytes, `route()` a custom handler function."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.headers_seen: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.stop = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: simple, and close-delimited bodies

            def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
                path = self.path.split("?", 1)[0]
                with site.lock:
                    site.hits[path] += 1
                    site.headers_seen.append((path, {k.lower(): v for k, v in self.headers.items()}))
                route = site.routes.get(path)
                try:
                    if route is None:
                        self.send_response(404)
                        self.send_header("Content-Type", "text/html; charset=utf-8")
                        self.end_headers()
                        self.wfile.write("<html><body><p>页面不存在</p></body></html>".encode())
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    pass  # the client gave up on us, as the test intended

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # do not wait for never-ending handlers at shutdown
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def add(
        self,
        path: str,
        body: bytes | str,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body

        def handler(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            if content_type:
                h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(data)

        self.routes[path] = handler

    def counting(self, path: str, body: bytes | str, delay: float) -> None:
        """Serve `body` after `delay` seconds, recording how many requests are in flight at once."""
        data = body.encode("utf-8") if isinstance(body, str) else body

        def handler(h: BaseHTTPRequestHandler) -> None:
            with self.lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                time.sleep(delay)
            finally:
                # In flight = held by the server. Counting past the write would race the client, which
                # may read the whole body, free its slot and send the next request before this line.
                with self.lock:
                    self.in_flight -= 1
            h.send_response(200)
            h.send_header("Content-Type", "text/html; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        self.routes[path] = handler

    def close(self) -> None:
        if self.stop.is_set():
            return
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


@pytest.fixture
def make_site() -> Iterator[Callable[..., Site]]:
    """Factory for more sites (other loopback hosts such as 127.0.0.2), closed after the test."""
    made: list[Site] = []

    def factory(host: str = "127.0.0.1") -> Site:
        made.append(Site(host))
        return made[-1]

    yield factory
    for s in made:
        s.close()


@pytest.fixture
def page() -> Callable[[str], str]:
    """Text of a fixture page in tests/fetch/pages."""
    return lambda name: (PAGES / name).read_text(encoding="utf-8")


def article_html(paragraphs: list[str], title: str = "测试文章", head: str = "") -> str:
    """A plain article page: enough structure for trafilatura to find the main text."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


@pytest.fixture
def make_article() -> Callable[..., str]:
    return article_html
