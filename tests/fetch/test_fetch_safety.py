"""Failures become `FetchResult.error`, never exceptions; the bot stays polite and out of private networks."""

from __future__ import annotations

import threading
import time

import httpcore
import pytest

from pipeline.search import fetch as fetch_module
from pipeline.search.fetch import Fetcher

ARTICLE = (
    "<html><head><title>储能电站</title></head><body><article><h1>储能电站</h1>"
    + "".join(
        f"<p>第{i}段：新型储能电站在电网调峰中的作用越来越重要，多个省份出台了配套政策，鼓励社会资本参与投资建设。</p>"
        for i in range(6)
    )
    + "</article></body></html>"
)


@pytest.fixture
def fetcher():
    with Fetcher(allow_private=True, timeout_s=1.0) as f:
        yield f


def _redirect(location: str, status: int = 302):
    def handler(h):
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handler


# -- redirects ---------------------------------------------------------------------------------


def test_redirect_chain_is_followed(site, fetcher):
    site.route("/a", _redirect("/b", 301))
    site.route("/b", _redirect(site.url("/c"), 302))
    site.route("/c", _redirect("d?x=1", 307))
    site.add("/d", ARTICLE)
    result = fetcher.fetch(site.url("/a"))

    assert result.ok, result.error
    assert result.url == site.url("/a")
    assert result.final_url == site.url("/d?x=1")
    assert result.status == 200
    assert "新型储能电站" in result.text


def test_endless_redirect_loop_stops(site, fetcher):
    site.route("/loop1", _redirect("/loop2"))
    site.route("/loop2", _redirect("/loop1"))
    result = fetcher.fetch(site.url("/loop1"))

    assert result.error == "too many redirects (> 5)"
    assert result.status == 302
    assert site.hits["/loop1"] + site.hits["/loop2"] == 6  # the first request and five redirects


def test_redirect_limit_is_configurable(site):
    site.route("/r1", _redirect("/r2"))
    site.route("/r2", _redirect("/r3"))
    site.add("/r3", ARTICLE)
    with Fetcher(allow_private=True, timeout_s=1.0, max_redirects=1) as f:
        assert f.fetch(site.url("/r1")).error == "too many redirects (> 1)"
    with Fetcher(allow_private=True, timeout_s=1.0, max_redirects=2) as f:
        assert f.fetch(site.url("/r1")).ok


def test_redirect_to_bad_scheme(site, fetcher):
    site.route("/to-ftp", _redirect("ftp://files.example.com/report.pdf"))
    result = fetcher.fetch(site.url("/to-ftp"))
    assert result.error == "unsupported scheme 'ftp' (only http/https)"


# -- time ---------------------------------------------------------------------------------------


def test_slow_page_times_out(site, fetcher):
    def slow(h):
        time.sleep(3)
        h.send_response(200)
        h.end_headers()

    site.route("/slow", slow)
    started = time.monotonic()
    result = fetcher.fetch(site.url("/slow"))
    elapsed = time.monotonic() - started

    assert result.error == "timeout after 1s"
    assert elapsed < 1.6


def test_trickling_page_stops_at_wall_clock_deadline(site, fetcher):
    """One byte every 50 ms never trips a read timeout; only a wall-clock deadline ends it."""

    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.end_headers()
        h.wfile.write(b"<html><body><p>")
        while not site.stop.is_set():
            h.wfile.write("慢".encode())
            h.wfile.flush()
            time.sleep(0.05)

    site.route("/trickle", trickle)
    started = time.monotonic()
    result = fetcher.fetch(site.url("/trickle"))
    elapsed = time.monotonic() - started

    assert result.error == "timeout after 1s"
    assert result.status == 200
    assert elapsed < 1.6


def test_stall_near_deadline_does_not_get_a_fresh_read_timeout(site, fetcher):
    """Bytes for 0.8 s, then silence: a read timeout alone would end at 1.8 s, the deadline at 1.0 s."""

    def stall(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.end_headers()
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            h.wfile.write(b"<p>x</p>")
            h.wfile.flush()
            time.sleep(0.05)
        site.stop.wait(5)

    site.route("/stall", stall)
    started = time.monotonic()
    result = fetcher.fetch(site.url("/stall"))
    elapsed = time.monotonic() - started

    assert result.error == "timeout after 1s"
    assert elapsed < 1.4


# -- size and type ------------------------------------------------------------------------------


def _huge(site, sent: list[int], declare_length: bool):
    def handler(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        if declare_length:
            h.send_header("Content-Length", str(50_000_000))
        h.end_headers()
        chunk = b"<p>" + "大".encode() * 21_000 + b"</p>"  # ~64 KB, reused: 50 MB is never allocated
        total = 0
        while total < 50_000_000 and not site.stop.is_set():
            h.wfile.write(chunk)
            total += len(chunk)
            sent[0] = total

    return handler


@pytest.mark.parametrize("declare_length", [True, False])
def test_fifty_megabyte_page_is_refused_early(site, declare_length):
    sent = [0]
    site.route("/huge", _huge(site, sent, declare_length))
    with Fetcher(allow_private=True, timeout_s=5.0) as f:
        started = time.monotonic()
        result = f.fetch(site.url("/huge"))
        elapsed = time.monotonic() - started

    assert result.error == "too large (> 3000000 bytes)"
    assert result.text == ""
    assert elapsed < 3
    time.sleep(0.1)
    assert sent[0] < 12_000_000  # the server was cut off, far short of 50 MB


def test_size_cap_is_configurable(site):
    site.add("/mid", ARTICLE)
    with Fetcher(allow_private=True, timeout_s=1.0, max_bytes=200) as f:
        assert f.fetch(site.url("/mid")).error == "too large (> 200 bytes)"


def test_pdf_is_not_text(site, fetcher):
    site.add(
        "/report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", content_type="application/pdf"
    )
    result = fetcher.fetch(site.url("/report.pdf"))
    assert result.error == "not text (application/pdf)"
    assert result.status == 200


def test_pdf_served_as_html_is_still_not_text(site, fetcher):
    site.add("/fake.html", b"%PDF-1.4\n" + b"\x00\x01binary" * 50, content_type="text/html")
    assert fetcher.fetch(site.url("/fake.html")).error == "not text (application/pdf)"


def test_image_is_not_text(site, fetcher):
    site.add("/logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, content_type="image/png")
    assert fetcher.fetch(site.url("/logo.png")).error == "not text (image/png)"


@pytest.mark.parametrize("status", [403, 404, 410, 500, 503])
def test_http_errors(site, fetcher, status):
    site.add("/err", "<html><body><p>拒绝访问</p></body></html>", status=status)
    result = fetcher.fetch(site.url("/err"))
    assert result.error == f"HTTP {status}"
    assert result.status == status
    assert not result.ok


def test_connection_refused(fetcher, make_site):
    site = make_site()
    url = site.url("/gone")
    site.close()
    result = fetcher.fetch(url)
    assert result.error is not None and result.error.startswith("connection failed")


# -- robots.txt ---------------------------------------------------------------------------------


def test_robots_disallow(site, fetcher):
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    site.add("/private/plan.html", ARTICLE)
    site.add("/public/plan.html", ARTICLE)

    denied = fetcher.fetch(site.url("/private/plan.html"))
    allowed = fetcher.fetch(site.url("/public/plan.html"))
    fetcher.fetch(site.url("/public/plan.html?again=1"))

    assert denied.error == "disallowed by robots.txt"
    assert site.hits["/private/plan.html"] == 0
    assert allowed.ok
    assert site.hits["/robots.txt"] == 1  # cached per host for the fetcher's lifetime


def test_robots_rule_for_our_user_agent(site, fetcher):
    site.add(
        "/robots.txt",
        "User-agent: yanbao\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
        content_type="text/plain",
    )
    site.add("/page", ARTICLE)
    assert fetcher.fetch(site.url("/page")).error == "disallowed by robots.txt"


def test_robots_checked_on_redirect_target(site, fetcher):
    site.add("/robots.txt", "User-agent: *\nDisallow: /members/\n", content_type="text/plain")
    site.route("/open", _redirect("/members/only"))
    site.add("/members/only", ARTICLE)
    assert fetcher.fetch(site.url("/open")).error == "disallowed by robots.txt"
    assert site.hits["/members/only"] == 0


def test_missing_robots_allows_all(site, fetcher):
    site.add("/page", ARTICLE)
    result = fetcher.fetch(site.url("/page"))
    assert result.ok
    assert site.hits["/robots.txt"] == 1
    assert result.notes == []


def test_robots_server_error_allows_with_note(site, fetcher):
    site.add("/robots.txt", "oops", status=503, content_type="text/plain")
    site.add("/page", ARTICLE)
    result = fetcher.fetch(site.url("/page"))
    assert result.ok
    assert any("robots.txt unavailable (HTTP 503)" in note for note in result.notes)


def test_robots_timeout_allows_with_note_and_leaves_time_for_the_page(site, fetcher):
    def slow_robots(h):
        site.stop.wait(3)

    site.route("/robots.txt", slow_robots)
    site.add("/page", ARTICLE)
    started = time.monotonic()
    result = fetcher.fetch(site.url("/page"))
    assert result.ok, result.error
    assert any("robots.txt unavailable (timeout" in note for note in result.notes)
    assert time.monotonic() - started < 1.3


# -- addresses, schemes, malformed URLs ---------------------------------------------------------


def test_private_address_refused_by_default(site):
    site.add("/page", ARTICLE)
    with Fetcher(timeout_s=1.0) as f:
        result = f.fetch(site.url("/page"))
        by_name = f.fetch(f"http://localhost:{site.port}/page")
    assert result.error == "private address 127.0.0.1 refused"
    assert by_name.error is not None and by_name.error.startswith("private address")
    assert by_name.error.endswith("refused")
    assert site.hits["/page"] == 0 and site.hits["/robots.txt"] == 0


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "192.168.0.10", "172.16.5.4", "169.254.169.254", "224.0.0.1", "0.0.0.0", "100.64.0.1",
     "240.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address):
    assert fetch_module._non_public(address)


def test_public_addresses_pass():
    for address in ("8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "114.114.114.114"):
        assert not fetch_module._non_public(address)


def test_connect_time_guard_catches_what_the_precheck_missed(site, monkeypatch):
    """If DNS answers "public" to the pre-check and "private" at connect time, the connect still fails."""
    site.add("/page", ARTICLE)
    monkeypatch.setattr(Fetcher, "_check_target", lambda self, url, clock: None)
    with Fetcher(timeout_s=1.0) as f:
        result = f.fetch(site.url("/page"))
    assert result.error == "private address 127.0.0.1 refused"
    assert site.hits["/page"] == 0


def test_guarded_backend_refuses_loopback():
    backend = fetch_module._GuardedBackend(allow_private=False)
    with pytest.raises(httpcore.ConnectError, match="private address 127.0.0.1 refused"):
        backend.connect_tcp("127.0.0.1", 9)


def test_redirect_hop_to_private_address_is_checked_again(monkeypatch, make_site):
    """Pretend 127.0.0.1 is public; its redirect to 127.0.0.2 (still "private") must be refused."""
    public, internal = make_site("127.0.0.1"), make_site("127.0.0.2")
    internal.add("/admin", ARTICLE)
    public.route("/go", _redirect(internal.url("/admin")))
    monkeypatch.setattr(fetch_module, "_non_public", lambda ip: ip != "127.0.0.1")
    with Fetcher(timeout_s=1.0) as f:
        result = f.fetch(public.url("/go"))
    assert result.error == "private address 127.0.0.2 refused"
    assert result.final_url == internal.url("/admin")
    assert public.hits["/go"] == 1
    assert internal.hits["/admin"] == 0 and internal.hits["/robots.txt"] == 0


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/file.txt", "unsupported scheme 'ftp' (only http/https)"),
        ("file:///etc/passwd", "unsupported scheme 'file' (only http/https)"),
        ("javascript:alert(1)", "unsupported scheme 'javascript' (only http/https)"),
        ("", "malformed URL: empty"),
        ("   ", "malformed URL: empty"),
    ],
)
def test_bad_schemes_and_empty(fetcher, url, error):
    assert fetcher.fetch(url).error == error


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "http://",
        "https:///path-only",
        "http://exa mple.com/",
        "http://[::1",
        "http://host:99999/x",
    ],
)
def test_malformed_urls(fetcher, url):
    result = fetcher.fetch(url)
    assert result.error is not None and result.error.startswith("malformed URL"), result.error
    assert result.url == url


# -- cookies and headers ------------------------------------------------------------------------


def test_no_cookies_are_kept(site, fetcher):
    def set_cookie(h):
        h.send_response(302)
        h.send_header("Set-Cookie", "session=abc123; Path=/")
        h.send_header("Location", "/landing")
        h.send_header("Content-Length", "0")
        h.end_headers()

    site.route("/login", set_cookie)
    site.add("/landing", ARTICLE)
    site.add("/other", ARTICLE)
    fetcher.fetch(site.url("/login"))
    fetcher.fetch(site.url("/other"))

    for path, headers in site.headers_seen:
        assert "cookie" not in headers, path
    assert len(fetcher._client.cookies.jar) == 0


def test_user_agent_names_the_bot(site, fetcher):
    site.add("/page", ARTICLE)
    fetcher.fetch(site.url("/page"))
    agents = {headers.get("user-agent") for _, headers in site.headers_seen}
    assert agents == {"yanbao/0.1 (+https://github.com/yanbao/yanbao; research-report bot)"}


def test_unexpected_internal_error_becomes_result(site, fetcher, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("extractor exploded")

    monkeypatch.setattr(fetch_module, "extract_page", boom)
    site.add("/page", ARTICLE)
    result = fetcher.fetch(site.url("/page"))
    assert result.error == "internal error: RuntimeError: extractor exploded"


def test_fetch_many_never_raises_on_mixed_input(site, fetcher):
    site.add("/page", ARTICLE)
    urls = [site.url("/page"), "not a url", "ftp://x.example/", site.url("/missing"), ""]
    results = fetcher.fetch_many(urls)
    assert [r.url for r in results] == urls
    assert results[0].ok
    assert [r.error for r in results[1:]] == [
        results[1].error,
        "unsupported scheme 'ftp' (only http/https)",
        "HTTP 404",
        "malformed URL: empty",
    ]
    assert results[1].error.startswith("malformed URL")


def test_thread_local_deadline_does_not_leak(site, fetcher):
    site.add("/page", ARTICLE)
    fetcher.fetch(site.url("/page"))
    assert getattr(fetch_module._local, "deadline", None) is None
    seen: list[object] = []
    t = threading.Thread(target=lambda: seen.append(getattr(fetch_module._local, "deadline", None)))
    t.start()
    t.join()
    assert seen == [None]


@pytest.mark.parametrize("allow_private", [False, True])
def test_hanging_dns_lookup_is_bounded(monkeypatch, allow_private):
    release = threading.Event()

    def hang(host, port):
        release.wait(5)
        raise OSError("resolver gave up")

    monkeypatch.setattr(fetch_module, "_getaddrinfo", hang)
    try:
        with Fetcher(allow_private=allow_private, timeout_s=0.5) as f:
            started = time.monotonic()
            result = f.fetch("http://slow-dns.example/page")
            elapsed = time.monotonic() - started
    finally:
        release.set()
    assert result.error is not None and result.error.startswith("timeout after 0.5s"), result.error
    assert elapsed < 1.0


def test_dns_failure_is_named(monkeypatch):
    def fail(host, port):
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(fetch_module, "_getaddrinfo", fail)
    with Fetcher(timeout_s=0.5) as f:
        assert f.fetch("http://nowhere.example/").error == "DNS lookup failed for nowhere.example"
