"""DuckDuckGoSearch against a scripted fake ddgs client, plus one check of the real ddgs offline."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from pipeline.search.base import SearchError
from pipeline.search.duckduckgo import DuckDuckGoSearch, classify_error, clean_url, normalize_url

REPO = Path(__file__).resolve().parents[2]


class FakeClient:
    """Same interface as `ddgs.DDGS`: `.text(query, region=, safesearch=, max_results=)`.

    `script` holds one step per call: a list of result dicts to return, or an exception to raise.
    """

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, dict]] = []

    def text(self, query: str, **kwargs):
        self.calls.append((query, kwargs))
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(script: list, **kwargs) -> tuple[DuckDuckGoSearch, FakeClient, Sleeps]:
    fake, sleeps = FakeClient(script), Sleeps()
    return DuckDuckGoSearch(client_factory=lambda: fake, sleep=sleeps, **kwargs), fake, sleeps


def hit(href: str, title: str = "标题", body: str = "摘要") -> dict:
    return {"title": title, "href": href, "body": body}


def dns_error() -> DDGSException:
    """The shape ddgs 9.16 raises with no network: the last engine's DDGSException wrapped in another."""
    inner = DDGSException(
        "DNSError: DNSError('error sending request for url (https://html.duckduckgo.com/html/) > error resolving"
        ' DNS > DNS error: no records found for Query { name: Name("html.duckduckgo.com."), query_type: A })\''
    )
    return DDGSException(inner)


def test_maps_results_and_passes_options() -> None:
    search, fake, _ = make(
        [[hit("https://News.Example.com/a/1.html", "储能新规", "峰谷价差扩大")]],
        region="cn-zh",
        safesearch="off",
    )
    [r] = search.search("储能 政策", max_results=4)
    assert (r.title, r.url, r.snippet, r.publisher, r.engine) == (
        "储能新规",
        "https://news.example.com/a/1.html",
        "峰谷价差扩大",
        "news.example.com",
        "duckduckgo",
    )
    assert fake.calls == [("储能 政策", {"region": "cn-zh", "safesearch": "off", "max_results": 4})]


def test_deduplicates_normalized_urls() -> None:
    raw = [
        hit("https://example.com/report/?utm_source=x&id=7", "A"),
        hit("HTTPS://EXAMPLE.COM/report?id=7#part2", "B"),
        hit("https://example.com/report?id=7&spm=a1.b2&from=timeline", "C"),
        hit("", "no url"),
        hit("https://example.com/report?id=8", "D"),
        hit("//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.com%2Freport%3Fid%3D8&rut=abc", "E"),
        hit("https://other.example.net/x", "F"),
    ]
    search, _, _ = make([raw])
    results = search.search("q", max_results=10)
    assert [r.title for r in results] == ["A", "D", "F"]
    assert results[0].url == "https://example.com/report/?id=7"


def test_max_results_applies_after_dedup() -> None:
    raw = [hit(f"https://e.com/{i}") for i in range(6)]
    search, _, _ = make([raw])
    assert len(search.search("q", max_results=3)) == 3


def test_url_normalization() -> None:
    assert normalize_url("HTTP://Example.COM/a/b/?utm_medium=m&x=1#frag") == "http://example.com/a/b?x=1"
    assert clean_url("https://u:p@Example.com:8443/p/") == "https://u:p@example.com:8443/p/"
    assert normalize_url("https://example.com/") == "https://example.com"


def test_ratelimit_retries_with_backoff_then_succeeds() -> None:
    search, fake, sleeps = make(
        [RatelimitException("202 Ratelimit"), RatelimitException("202 Ratelimit"), [hit("https://e.com/1")]],
        max_retries=3,
        backoff_s=2.0,
    )
    assert len(search.search("q")) == 1
    assert len(fake.calls) == 3
    assert len(sleeps) == 2
    for attempt, delay in enumerate(sleeps):
        assert 0.0 <= delay <= 2.0 * 2**attempt


def test_ratelimit_exhausted_raises_one_line_error() -> None:
    search, fake, sleeps = make([RatelimitException("202 Ratelimit")] * 4, max_retries=3)
    with pytest.raises(SearchError) as info:
        search.search("q")
    assert info.value.kind == "ratelimit"
    assert str(info.value) == "DuckDuckGo rate limit: still refused after 3 retries"
    assert len(fake.calls) == 4 and len(sleeps) == 3


def test_ratelimit_recognized_in_plain_ddgs_exception_text() -> None:
    search, fake, _ = make(
        [DDGSException("https://html.duckduckgo.com/html 202 Ratelimit")] * 2, max_retries=1
    )
    with pytest.raises(SearchError) as info:
        search.search("q")
    assert info.value.kind == "ratelimit" and len(fake.calls) == 2


class MaxRng:
    """Stands in for random.Random: `uniform(a, b)` returns the upper bound, exposing the envelope."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_is_exponential_with_full_jitter() -> None:
    fake, sleeps = FakeClient([RatelimitException("x")] * 5), Sleeps()
    search = DuckDuckGoSearch(
        client_factory=lambda: fake, sleep=sleeps, max_retries=4, backoff_s=1.5, rng=MaxRng()
    )
    with pytest.raises(SearchError):
        search.search("q")
    assert sleeps == [1.5, 3.0, 6.0, 12.0]
    # Full jitter: many draws spread over [0, cap], not clustered near the cap.
    jittered = DuckDuckGoSearch(backoff_s=2.0)
    draws = [jittered.backoff_delay(2) for _ in range(2000)]
    assert min(draws) >= 0.0 and max(draws) <= 8.0
    assert min(draws) < 0.5 and max(draws) > 7.5


def test_timeouts_retry_then_raise_timeout() -> None:
    exc = TimeoutException(TimeoutException(TimeoutError("error sending request > operation timed out")))
    search, fake, sleeps = make([exc] * 3, max_retries=2, timeout_s=7)
    with pytest.raises(SearchError) as info:
        search.search("q")
    assert info.value.kind == "timeout"
    assert str(info.value) == "DuckDuckGo timed out: no answer within 7 s, 2 retries"
    assert len(fake.calls) == 3 and len(sleeps) == 2


def test_timeout_then_success() -> None:
    search, fake, sleeps = make([TimeoutException("timed out"), [hit("https://e.com/1")]])
    assert len(search.search("q")) == 1 and len(sleeps) == 1


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (dns_error(), "DNS lookup failed"),
        (
            DDGSException(
                DDGSException("ConnectError: ConnectError('... > Connection refused (os error 111)')")
            ),
            "connection refused",
        ),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "DNS lookup failed"),
        (OSError(101, "Network is unreachable"), "network is unreachable"),
    ],
)
def test_network_errors_fail_at_once(exc: BaseException, cause: str) -> None:
    search, fake, sleeps = make([exc, [hit("https://e.com/never")]])
    with pytest.raises(SearchError) as info:
        search.search("人工智能")
    assert info.value.kind == "network"
    assert str(info.value) == f"no network: cannot reach DuckDuckGo ({cause})"
    assert "\n" not in str(info.value)
    assert len(fake.calls) == 1 and sleeps == []


def test_no_results_is_an_empty_list() -> None:
    search, _, sleeps = make([DDGSException("No results found."), []])
    assert search.search("q") == []
    assert search.search("q") == []
    assert sleeps == []


def test_other_errors_are_not_retried() -> None:
    search, fake, _ = make([ValueError("unexpected html"), []])
    with pytest.raises(SearchError) as info:
        search.search("q")
    assert info.value.kind == "other" and "unexpected html" in str(info.value)
    assert len(fake.calls) == 1


def test_classify_error_prefers_network_over_timeout() -> None:
    assert classify_error(TimeoutException("DNSError: error resolving DNS > timed out"))[0] == "network"
    assert classify_error(DDGSException("https://e.com/?x=14290 boom"))[0] == "other"


def test_empty_query_does_not_call_client() -> None:
    search, fake, _ = make([])
    assert search.search("   ") == [] and fake.calls == []


def test_cache_identity() -> None:
    assert DuckDuckGoSearch(region="us-en", safesearch="off").cache_identity() == {
        "engine": "duckduckgo",
        "region": "us-en",
        "safesearch": "off",
    }


def test_ddgs_is_imported_lazily() -> None:
    code = "import sys, pipeline.search, pipeline.search.duckduckgo; print('ddgs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _network_reachable() -> bool:
    try:
        socket.create_connection(("html.duckduckgo.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(_network_reachable(), reason="network is reachable; this checks the offline failure")
def test_real_ddgs_fails_fast_without_network() -> None:
    sleeps = Sleeps()
    search = DuckDuckGoSearch(timeout_s=5, sleep=sleeps)
    start = time.monotonic()
    with pytest.raises(SearchError) as info:
        search.search("储能 峰谷电价", max_results=3)
    assert time.monotonic() - start < 15
    assert info.value.kind == "network"
    assert str(info.value).startswith("no network: cannot reach DuckDuckGo (")
    assert sleeps == []
