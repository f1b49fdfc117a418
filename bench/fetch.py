"""Benchmark of the page fetcher (prints figures; not a test).

    .venv/bin/python bench/fetch.py [--pages 200]

1. memory: peak RSS with 20 pages of ~1 MB in flight, target < 200 MB (and, in a second run, the peak
   of Python allocations under tracemalloc, which misses lxml's C memory but shows our own buffers);
2. throughput: pages per second with 8-way concurrency across 4 hosts (127.0.0.1-4, all loopback,
   per_host=2), including decoding and trafilatura extraction of ~30 KB article pages;
3. extraction: milliseconds per 100 KB page (decode + trafilatura), target < 50 ms.

The servers run in a separate process so that the memory figures are the fetcher's alone.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HOSTS = [f"127.0.0.{i}" for i in range(1, 5)]

SENTENCES = [
    "今年以来，多地数据中心项目陆续开工，智能算力的供给规模持续扩大。",
    "业内人士认为，液冷技术的普及将显著降低新建机房的能耗水平。",
    "部分云服务商下调了训练集群的租赁价格，中小企业的使用门槛随之降低。",
    "电力供应与网络时延仍是选址时最受关注的两个因素。",
    "分析机构预计，推理需求的增长速度将在未来两年超过训练需求。",
]


def article(size_bytes: int, seed: int = 0) -> bytes:
    """An article page of about `size_bytes` (UTF-8), with nav and footer around the text."""
    head = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>算力市场观察</title>"
        "<meta property='og:site_name' content='基准测试网'></head><body>"
        "<nav>"
        + "".join(f"<a href='/c{i}'>栏目{i}</a>" for i in range(30))
        + "</nav><article><h1>算力市场观察</h1>"
    )
    tail = "</article><footer>版权所有 基准测试网</footer></body></html>"
    parts = [head]
    size = len(head.encode()) + len(tail.encode())
    i = seed
    while size < size_bytes:
        p = f"<p>第{i}段。" + SENTENCES[i % 5] + SENTENCES[(i * 3 + 1) % 5] + "</p>"
        parts.append(p)
        size += len(p.encode())
        i += 1
    parts.append(tail)
    return "".join(parts).encode()


def serve(port_out: Connection, stop: mp.Event) -> None:
    """Four servers on 127.0.0.1-4 (same port), in their own process."""
    small = article(30_000)
    big = article(1_000_000)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/robots.txt":
                body, delay = b"User-agent: *\nAllow: /\n", 0.0
            elif self.path == "/stats":
                body, delay = f"{state['peak']}".encode(), 0.0
            elif self.path.startswith("/big/"):
                body, delay = big, 0.5
            else:
                body, delay = small, 0.0
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            try:
                time.sleep(delay)
                self.send_response(200)
                self.send_header(
                    "Content-Type", "text/html; charset=utf-8" if body[:1] == b"<" else "text/plain"
                )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                with lock:
                    state["now"] -= 1

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    first = ThreadingHTTPServer((HOSTS[0], 0), Handler)
    port = first.server_address[1]
    servers = [first] + [ThreadingHTTPServer((h, port), Handler) for h in HOSTS[1:]]
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    port_out.send(port)
    stop.wait()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()

    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(target=serve, args=(send, stop), daemon=True)
    proc.start()
    if not receive.poll(10):
        raise SystemExit("bench servers did not start")
    port = receive.recv()

    from pipeline.search.fetch import Fetcher, decode_page, extract_page

    print(f"python {sys.version.split()[0]}, servers on {', '.join(HOSTS)} port {port}")
    rss_start = rss_mb()

    # 1. Memory with 20 pages in flight (first, since ru_maxrss is a peak over the process's life) ------
    big_urls = [f"http://{HOSTS[i % 4]}:{port}/big/{i}" for i in range(20)]
    with Fetcher(allow_private=True, concurrency=20, per_host=5) as fetcher:
        started = time.perf_counter()
        big_results = fetcher.fetch_many(big_urls)
        elapsed = time.perf_counter() - started
    rss_peak = rss_mb()
    import httpx

    in_flight = int(httpx.get(f"http://{HOSTS[0]}:{port}/stats", trust_env=False).text)
    print(
        f"memory: 20 pages of {len(article(1_000_000)) / 1e6:.1f} MB, concurrency 20, per_host 5 (server saw "
        f"{in_flight} in flight), {sum(r.ok for r in big_results)}/20 ok in {elapsed:.2f} s; "
        f"peak RSS {rss_peak:.0f} MB ({rss_start:.0f} MB after imports) (target < 200 MB)"
    )
    tracemalloc.start()
    with Fetcher(allow_private=True, concurrency=20, per_host=5) as fetcher:
        fetcher.fetch_many([u + "?traced" for u in big_urls])
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory: same run under tracemalloc: peak Python allocations {traced_peak / 1e6:.0f} MB")

    # 2. Throughput ------------------------------------------------------------------------------
    urls = [f"http://{HOSTS[i % 4]}:{port}/page/{i}" for i in range(args.pages)]
    with Fetcher(allow_private=True, concurrency=8, per_host=2) as fetcher:
        fetcher.fetch_many([f"http://{h}:{port}/page/warm" for h in HOSTS])  # robots.txt and imports
        started = time.perf_counter()
        results = fetcher.fetch_many(urls)
        elapsed = time.perf_counter() - started
    ok = sum(r.ok for r in results)
    print(f"throughput: {args.pages} pages of 30 KB, 4 hosts, concurrency 8 (per_host 2): "
          f"{elapsed:.2f} s, {args.pages / elapsed:.1f} pages/s, {ok}/{args.pages} ok")  # fmt: skip

    # 3. Extraction per 100 KB page --------------------------------------------------------------
    page = article(100_000, seed=7)
    extract_page(decode_page(page, "text/html")[0])  # warm-up (imports, caches)
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        html, _enc = decode_page(page, "text/html; charset=utf-8")
        text, _title, _date, _pub = extract_page(html, "http://127.0.0.1/x")
        times.append((time.perf_counter() - t0) * 1000)
    print(
        f"extraction: {len(page) / 1000:.0f} KB page -> {len(text)} chars of text; "
        f"median {statistics.median(times):.1f} ms, p90 {sorted(times)[int(len(times) * 0.9)]:.1f} ms "
        f"(target < 50 ms)"
    )

    stop.set()
    proc.join(5)


if __name__ == "__main__":
    main()
