"""fetch_many: order, politeness limits under concurrency, the cache, and use from worker threads."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from pipeline.search.fetch import Fetcher, FetchResult

ARTICLE = (
    "<html><head><title>算力租赁</title></head><body><article><h1>算力租赁</h1>"
    + "".join(
        f"<p>第{i}段：算力租赁业务快速增长，中小企业更倾向按需购买计算资源，而不是自建机房，运营商也在扩充供给。</p>"
        for i in range(6)
    )
    + "</article></body></html>"
)


class DictCache:
    """The run store's cache protocol, in memory."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}
        self.gets = 0

    def get(self, namespace: str, key: str) -> str | None:
        self.gets += 1
        return self.data.get((namespace, key))

    def put(self, namespace: str, key: str, value: str) -> None:
        self.data[(namespace, key)] = value


def test_per_host_limit_is_two(site):
    for i in range(8):
        site.counting(f"/p{i}", ARTICLE, delay=0.25)
    urls = [site.url(f"/p{i}") for i in range(8)]
    with Fetcher(allow_private=True, timeout_s=3.0, concurrency=8) as f:
        results = f.fetch_many(urls)
    assert all(r.ok for r in results)
    assert site.max_in_flight == 2


def test_per_host_limit_holds_across_threads(site):
    """Two research workers sharing one fetcher must not double the load on one site."""
    for i in range(8):
        site.counting(f"/q{i}", ARTICLE, delay=0.2)
    with Fetcher(allow_private=True, timeout_s=5.0, concurrency=8) as f:
        with ThreadPoolExecutor(max_workers=4) as pool:
            batches = [[site.url(f"/q{j}") for j in range(i, 8, 4)] for i in range(4)]
            results = [r for rs in pool.map(f.fetch_many, batches) for r in rs]
    assert all(r.ok for r in results)
    assert site.max_in_flight == 2


class Tracker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def route(self, body: str, delay: float):
        data = body.encode()

        def handler(h):
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                time.sleep(delay)
                h.send_response(200)
                h.send_header("Content-Type", "text/html; charset=utf-8")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
            finally:
                with self.lock:
                    self.now -= 1

        return handler


@pytest.fixture
def four_hosts(make_site):
    return [make_site(f"127.0.0.{i}") for i in range(1, 5)]


def test_global_limit_and_parallelism_across_hosts(four_hosts):
    tracker = Tracker()
    urls = []
    for s in four_hosts:
        for j in range(3):
            s.route(f"/x{j}", tracker.route(ARTICLE, delay=0.3))
            urls.append(s.url(f"/x{j}"))
    with Fetcher(allow_private=True, timeout_s=5.0, concurrency=6) as f:
        started = time.monotonic()
        results = f.fetch_many(urls)
        elapsed = time.monotonic() - started
    assert [r.url for r in results] == urls
    assert all(r.ok for r in results)
    assert tracker.peak == 6  # global limit reached, never exceeded
    assert elapsed < 1.5  # 12 pages x 0.3 s would take 3.6 s one at a time


def test_fetch_many_keeps_order_and_fetches_duplicates_once(site):
    for name in ("a", "b", "c"):
        site.add(f"/{name}", ARTICLE.replace("算力租赁", f"算力租赁{name}"))
    urls = [site.url("/c"), site.url("/a"), site.url("/c"), site.url("/b"), site.url("/missing")]
    with Fetcher(allow_private=True, timeout_s=2.0) as f:
        results = f.fetch_many(urls)
    assert [r.url for r in results] == urls
    assert [r.title for r in results[:4]] == ["算力租赁c", "算力租赁a", "算力租赁c", "算力租赁b"]
    assert results[4].error == "HTTP 404"
    assert site.hits["/c"] == 1
    assert f.fetch_many([]) == []


def test_fetch_many_from_a_worker_thread(site):
    site.add("/page", ARTICLE)
    with Fetcher(allow_private=True, timeout_s=2.0) as f:
        with ThreadPoolExecutor(max_workers=1) as pool:
            results = pool.submit(f.fetch_many, [site.url("/page")] * 2).result(timeout=10)
    assert all(r.ok for r in results)


def test_cache_hit_sends_no_request(site):
    site.add("/page", ARTICLE)
    cache = DictCache()
    url = site.url("/page")
    with Fetcher(allow_private=True, timeout_s=2.0, cache=cache) as f:
        first = f.fetch(url)
    assert first.ok
    key = ("fetch", f"{url}|{date.today().isoformat()}")
    assert key in cache.data
    assert FetchResult.model_validate(json.loads(cache.data[key])) == first
    requests_before = sum(site.hits.values())

    with Fetcher(
        allow_private=True, timeout_s=2.0, cache=cache
    ) as f:  # a new fetcher: no robots cache either
        again = f.fetch(url)
        many = f.fetch_many([url])
    assert again.model_dump() == first.model_dump() and [m.model_dump() for m in many] == [first.model_dump()]
    assert again.cached and many[0].cached and not first.cached  # what the run store records
    assert "cached" not in again.model_dump_json()  # not part of the page (the cache, the CLI's JSON)
    assert sum(site.hits.values()) == requests_before


def test_failures_are_not_cached(site):
    cache = DictCache()
    with Fetcher(allow_private=True, timeout_s=2.0, cache=cache) as f:
        assert f.fetch(site.url("/missing")).error == "HTTP 404"
    assert cache.data == {}


def test_broken_cache_does_not_break_fetching(site):
    class Broken:
        def get(self, namespace: str, key: str) -> str | None:
            raise OSError("disk full")

        def put(self, namespace: str, key: str, value: str) -> None:
            raise OSError("disk full")

    site.add("/page", ARTICLE)
    with Fetcher(allow_private=True, timeout_s=2.0, cache=Broken()) as f:
        assert f.fetch(site.url("/page")).ok


def test_corrupt_cache_entry_is_refetched(site):
    site.add("/page", ARTICLE)
    url = site.url("/page")
    cache = DictCache()
    cache.put("fetch", f"{url}|{date.today().isoformat()}", "{not json")
    with Fetcher(allow_private=True, timeout_s=2.0, cache=cache) as f:
        assert f.fetch(url).ok
    assert site.hits["/page"] == 1


def test_search_result_conversion(site):
    site.add("/page", ARTICLE)
    with Fetcher(allow_private=True, timeout_s=2.0) as f:
        result = f.fetch(site.url("/page"))
    hit = result.to_search_result(snippet="两句话的摘要")
    assert hit.url == result.url and hit.content == result.text and hit.engine == "fetch"
    assert hit.text == result.text
