"""Reading the pages behind search results.

A DuckDuckGo snippet is two sentences; a research loop needs the page. This module fetches pages
politely and defensively, and turns each into main text plus metadata with trafilatura:

* Politeness: robots.txt is honoured (fetched once per origin for the Fetcher's lifetime), at most
  `per_host` requests are in flight per host and `concurrency` overall, and the User-Agent names us.
* Safety: only http/https; hosts that resolve to private, loopback, link-local, multicast or reserved
  addresses are refused, checked before every hop *and again at connect time* (so a DNS answer that
  changes between the check and the connection cannot slip through); no cookies are kept; bodies are
  streamed with a size cap; and every socket operation is clamped to one wall-clock deadline per
  fetch, so a page that trickles bytes forever ends on time instead of after "read timeout x chunks".
* Robustness: every failure becomes a `FetchResult` with `error` naming the cause; `fetch` and
  `fetch_many` never raise, because one bad page must not cost a research loop.
* Chinese pages: GBK/GB18030/Big5 are decoded from the header charset, then the `<meta>` charset, then
  detection, and trafilatura gets a decoded `str` so it never guesses on its own.
"""

from __future__ import annotations

import codecs
import ipaddress
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Protocol
from urllib.robotparser import RobotFileParser

import httpcore
import httpx
from pydantic import BaseModel, Field

from pipeline.models import SearchResult

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "yanbao/0.1 (+https://github.com/yanbao/yanbao; research-report bot)"
CACHE_NAMESPACE = "fetch"
ROBOTS_MAX_BYTES = 512_000  # Google reads at most 500 KiB of a robots.txt; so do we
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
HTML_TYPES = {"text/html", "application/xhtml+xml"}
PLAIN_TYPES = {"text/plain", "text/markdown"}


class Cache(Protocol):
    """Where successful fetches are kept (the run store implements it); values are JSON strings."""

    def get(self, namespace: str, key: str) -> str | None: ...

    def put(self, namespace: str, key: str, value: str) -> None: ...


class FetchResult(BaseModel):
    """One fetched page. `error` is set (and `text` empty) when the page could not be used.

    `notes` carries things worth knowing that did not stop the fetch (e.g. robots.txt unreachable);
    it is not part of the CLI's JSON contract.
    """

    url: str
    final_url: str = ""
    status: int | None = None
    title: str = ""
    date: str = ""
    publisher: str = ""
    encoding: str = ""
    text: str = ""
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    # Answered from the cache, not from the site (what the run store records). Not part of the page:
    # left out of the JSON (the CLI's and the cache's).
    cached: bool = Field(default=False, exclude=True)

    @property
    def ok(self) -> bool:
        """True when main text was extracted."""
        return self.error is None and bool(self.text.strip())

    def to_search_result(self, snippet: str = "", title: str = "") -> SearchResult:
        """The page as a search hit, keyed by the URL the search returned (so source ids stay stable)."""
        return SearchResult(
            title=self.title or title or self.url,
            url=self.url,
            snippet=snippet,
            content=self.text,
            publisher=self.publisher,
            date=self.date,
            engine="fetch",
        )


class _Failure(Exception):
    """A fetch that cannot go on; `message` becomes `FetchResult.error`."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# ---------------------------------------------------------------------------------------------
# Address guard and wall-clock deadline, installed below httpx as a network backend.
# ---------------------------------------------------------------------------------------------

_local = threading.local()  # .deadline: time.monotonic() value the current thread's I/O must end by


def _clamp(timeout: float | None, exc_type: type[Exception]) -> float | None:
    """Shorten a socket timeout to what is left before this thread's fetch deadline.

    httpx reads its read timeout once per response, so "read timeout" alone lets a server that sends one
    byte every 9 s keep us forever. Clamping every socket call to the deadline makes the bound hard.
    """
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise exc_type("wall-clock deadline reached")
    return remaining if timeout is None else min(timeout, remaining)


def _non_public(ip_text: str) -> bool:
    """True for any address a research bot has no business connecting to."""
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


_dns_executor: ThreadPoolExecutor | None = None
_dns_lock = threading.Lock()


def _getaddrinfo(host: str, port: int) -> list[str]:
    seen: list[str] = []
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def _resolve(host: str, port: int, timeout: float | None = None) -> list[str]:
    """All addresses `host` resolves to, in resolver order (an IP literal resolves to itself).

    `getaddrinfo` has no timeout of its own, so with a `timeout` it runs on a helper thread and we stop
    waiting when the time is up (the lookup itself ends when the system resolver gives up).
    """
    global _dns_executor
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
        return [bare]
    except ValueError:
        pass
    if timeout is None:
        return _getaddrinfo(bare, port)
    with _dns_lock:
        if _dns_executor is None:
            _dns_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dns")
    future = _dns_executor.submit(_getaddrinfo, bare, port)
    try:
        return future.result(timeout=max(0.0, timeout))
    except FuturesTimeout:
        raise TimeoutError(f"DNS lookup for {bare} timed out") from None


def _first_non_public(addresses: list[str]) -> str | None:
    for addr in addresses:
        if _non_public(addr):
            return addr
    return None


class _GuardedStream(httpcore.NetworkStream):
    """A socket stream whose every read/write/TLS handshake ends by the calling thread's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        stream = self._stream.start_tls(
            ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
        )
        return _GuardedStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks every address, then connects to a checked address (never re-resolving).

    This is the second check: the Fetcher also checks before each hop to give a clear error early, but
    only this one closes the window between "resolved to a public address" and "connected".
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _resolve(host, port, _clamp(timeout, httpcore.ConnectTimeout))
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"DNS lookup failed for {host}") from exc
        if not self.allow_private:
            bad = _first_non_public(addresses)
            if bad is not None:
                raise httpcore.ConnectError(f"private address {bad} refused")
        last: Exception | None = None
        for addr in addresses:
            try:
                stream = super().connect_tcp(
                    addr, port, _clamp(timeout, httpcore.ConnectTimeout), local_address, socket_options
                )
                return _GuardedStream(stream)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with our network backend underneath.

    httpx has no public hook for the network backend, so we replace the connection pool it built. If a
    future httpx stops having that pool we refuse to start rather than fetch without the guard.
    """

    def __init__(self, *, allow_private: bool, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        pool = getattr(self, "_pool", None)
        if not isinstance(pool, httpcore.ConnectionPool):
            raise RuntimeError("httpx internals changed: cannot install the address guard")
        pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(allow_private),
        )


class _Clock:
    """The wall-clock budget of one fetch. Time spent queueing for a slot is not charged to it."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def extend(self, seconds: float) -> None:
        self.deadline += seconds


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

_GB_LABELS = {
    "gb2312", "gbk", "x-gbk", "gb_2312", "gb_2312-80", "csgb2312", "chinese", "iso-ir-58", "gb18030",
    "cp936", "windows-936", "ms936", "euc-cn", "x-euc-cn", "hz-gb-2312",
}  # fmt: skip
_BIG5_LABELS = {
    "big5",
    "big5-hkscs",
    "big5hkscs",
    "cn-big5",
    "x-x-big5",
    "csbig5",
    "cp950",
    "ms950",
    "x-big5",
}
_LATIN_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "windows-1252"}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.I)


def _codec_for(label: str | None) -> str | None:
    """Python codec for a charset label, mapping GB and Big5 families to their supersets (as browsers do)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _GB_LABELS:
        return "gb18030"
    if label in _BIG5_LABELS:
        return "big5hkscs"
    if label in _LATIN_LABELS:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _header_charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:8192])
    return match.group(1).decode("ascii", "replace") if match else None


def _decode_tolerant(data: bytes, codec: str) -> str | None:
    """Decode with a declared charset, accepting a few bad bytes but not a wrong declaration."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return None
    text = data.decode(codec, errors="replace")
    return text if text.count("\ufffd") <= max(2, len(text) // 200) else None


def _gb2312_share(text: str) -> float:
    """Share of CJK characters in the sample that exist in GB2312 (simplified Chinese is ~100 %)."""
    cjk = [ch for ch in text[:20000] if "\u4e00" <= ch <= "\u9fff"]
    if not cjk:
        return 1.0
    inside = 0
    for ch in cjk:
        try:
            ch.encode("gb2312")
            inside += 1
        except UnicodeEncodeError:
            pass
    return inside / len(cjk)


def decode_page(data: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode page bytes; returns (text, codec used).

    Order: BOM, the Content-Type charset, the `<meta>` charset, then detection. A declaration is
    trusted unless decoding with it produces many replacement characters (a Chinese server that says
    utf-8 for a GBK page is common). Detection tries UTF-8, then GB18030, then Big5: Big5 byte pairs
    are mostly valid GBK too, so a GB18030 decode counts only if its characters are ordinary
    simplified Chinese (in GB2312); otherwise Big5 gets its turn.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    for label in (_header_charset(content_type), _meta_charset(data)):
        codec = _codec_for(label)
        if codec:
            text = _decode_tolerant(data, codec)
            if text is not None:
                return text, codec
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    gb: str | None
    try:
        gb = data.decode("gb18030")
    except UnicodeDecodeError:
        gb = None
    if gb is not None and _gb2312_share(gb) >= 0.9:
        return gb, "gb18030"
    try:
        return data.decode("big5hkscs"), "big5hkscs"
    except UnicodeDecodeError:
        pass
    if gb is not None:
        return gb, "gb18030"
    return data.decode("utf-8", errors="replace"), "utf-8"


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


def extract_page(html: str, url: str = "") -> tuple[str, str, str, str]:
    """Main text and metadata of an HTML page: (text, title, date, publisher). Pure CPU, no I/O."""
    import trafilatura  # heavy import, needed only once a page has arrived

    doc = trafilatura.bare_extraction(
        html,
        url=url or None,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        # Dates from metadata, JSON-LD, the URL and date elements only: the "extensive" search scans all
        # text for date-like strings, doubling extraction time for dates that are often not the article's.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if doc is None:
        return "", "", "", ""

    def get(name: str) -> str:
        value = doc.get(name) if isinstance(doc, dict) else getattr(doc, name, None)
        return str(value).strip() if value else ""

    return get("text"), get("title"), get("date"), get("sitename")


# ---------------------------------------------------------------------------------------------
# Fetcher
# ---------------------------------------------------------------------------------------------


_EXTRACT_WORKERS = 2
_extract_executor: ThreadPoolExecutor | None = None
_extract_lock = threading.Lock()


def _extract_pool() -> ThreadPoolExecutor:
    """The few threads that run trafilatura, shared by all fetchers.

    Extraction is CPU work under the GIL, so more threads would not be faster; and glibc gives each
    thread that allocates its own malloc arena, which keeps its peak. A 1 MB page costs lxml ~25 MB:
    extracted in 20 download threads that is 20 arenas of 25 MB each, extracted here it is two.
    """
    global _extract_executor
    with _extract_lock:
        if _extract_executor is None:
            _extract_executor = ThreadPoolExecutor(max_workers=_EXTRACT_WORKERS, thread_name_prefix="extract")
        return _extract_executor


@dataclass
class _Robots:
    parser: RobotFileParser | None  # None: everything allowed
    note: str | None = None


@dataclass
class _Exchange:
    status: int
    headers: httpx.Headers
    body: bytes | None = None  # None for redirects and errors
    location: str | None = None


_HOST_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?$")


def _seconds(value: float) -> str:
    return f"{value:g}"


def _host_key(url: str) -> str:
    """The politeness key of a URL: its host name (ports of one host share the host's limit)."""
    try:
        return httpx.URL(url.strip()).host.lower()
    except Exception:  # malformed URLs fail fast in fetch(); any key will do here
        return ""


class Fetcher:
    """Fetches pages and extracts their main text. Thread-safe; one instance per run is the intent.

    Limits (`per_host`, `concurrency`) hold across all threads using the instance, not only within one
    `fetch_many` call, since research workers run in parallel and may hit the same site.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        cache: Cache | None = None,
        max_bytes: int = 3_000_000,
        timeout_s: float = 10.0,
        max_redirects: int = 5,
        per_host: int = 2,
        concurrency: int = 8,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.allow_private = allow_private
        self.cache = cache
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.per_host = max(1, per_host)
        self.concurrency = max(1, concurrency)
        self.user_agent = user_agent
        limits = httpx.Limits(
            max_connections=self.concurrency * 2 + 4,
            max_keepalive_connections=self.concurrency * 2,
            keepalive_expiry=30.0,
        )
        # A jar whose policy accepts no cookie at all: nothing a site sets can travel anywhere.
        jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.Client(
            transport=_GuardedTransport(allow_private=allow_private, limits=limits),
            headers={
                "User-Agent": user_agent,
                "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
                "Accept-Language": "zh-CN,zh;q=0.9,zh-TW;q=0.8,en;q=0.6",
            },
            cookies=jar,
            follow_redirects=False,
            trust_env=False,
            timeout=timeout_s,
        )
        self._lock = threading.Lock()
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._all_slots = threading.BoundedSemaphore(self.concurrency)
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, threading.Lock] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------------

    def fetch(self, url: str, step: str = "fetch") -> FetchResult:
        """Fetch one page. Never raises (except KeyboardInterrupt and friends). `step` is for the
        `pipeline.search.base.Fetcher` protocol: this fetcher records nothing, so it is not used."""
        try:
            return self._fetch_cached(url)
        except Exception as exc:  # the contract is "an error field, never an exception"
            log.exception("fetch %s failed unexpectedly", url)
            return FetchResult(
                url=str(url), final_url=str(url), error=f"internal error: {type(exc).__name__}: {exc}"[:300]
            )

    def fetch_many(self, urls: list[str], step: str = "fetch") -> list[FetchResult]:
        """Fetch pages concurrently; results in input order. A URL repeated in `urls` is fetched once.
        (`step` as for `fetch`.)

        A small dispatcher hands a worker a URL only when its host has a free slot, so workers never sit
        blocked on a busy site while pages from other sites wait.
        """
        if not urls:
            return []
        unique = list(dict.fromkeys(urls))
        queues: dict[str, deque[str]] = {}
        for url in unique:
            queues.setdefault(_host_key(url), deque()).append(url)
        done_by_url: dict[str, FetchResult] = {}
        active: dict[str, int] = {}
        running: dict[Future[FetchResult], tuple[str, str]] = {}
        with ThreadPoolExecutor(
            max_workers=min(self.concurrency, len(unique)), thread_name_prefix="fetch"
        ) as pool:
            while queues or running:
                for host in list(queues):
                    queue = queues[host]
                    while queue and active.get(host, 0) < self.per_host and len(running) < self.concurrency:
                        url = queue.popleft()
                        running[pool.submit(self.fetch, url)] = (url, host)
                        active[host] = active.get(host, 0) + 1
                    if not queue:
                        del queues[host]
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    url, host = running.pop(future)
                    active[host] -= 1
                    done_by_url[url] = future.result()  # fetch() never raises
        return [done_by_url[url] for url in urls]

    # -- internals ---------------------------------------------------------------------------

    def _fetch_cached(self, url: str) -> FetchResult:
        key = f"{url}|{date.today().isoformat()}"
        if self.cache is not None:
            try:
                hit = self.cache.get(CACHE_NAMESPACE, key)
                if hit:
                    return FetchResult.model_validate_json(hit).model_copy(update={"cached": True})
            except Exception as exc:  # a broken cache entry costs a refetch, not the page
                log.warning("fetch cache read failed for %s: %s", url, exc)
        result = self._fetch_uncached(url)
        if result.ok and self.cache is not None:
            try:
                self.cache.put(CACHE_NAMESPACE, key, result.model_dump_json())
            except Exception as exc:
                log.warning("fetch cache write failed for %s: %s", url, exc)
        return result

    def _fetch_uncached(self, raw_url: str) -> FetchResult:
        result = FetchResult(url=str(raw_url), final_url=str(raw_url))
        clock = _Clock(self.timeout_s)
        try:
            url = self._parse(raw_url)
            result.final_url = str(url)
            for hop in range(self.max_redirects + 1):
                self._check_target(url, clock)
                if not self._robots_allow(url, clock, result.notes):
                    raise _Failure("disallowed by robots.txt")
                exchange = self._exchange(url, clock, self.max_bytes, page=True)
                result.status = exchange.status
                if exchange.location is None:
                    break
                url = self._follow(url, exchange.location)
                result.final_url = str(url)
                if hop == self.max_redirects:
                    raise _Failure(f"too many redirects (> {self.max_redirects})", exchange.status)
            else:  # pragma: no cover - the loop always breaks or raises
                raise _Failure(f"too many redirects (> {self.max_redirects})")
        except _Failure as failure:
            result.error = failure.message
            if failure.status is not None:
                result.status = failure.status
            return result
        assert exchange.body is not None
        self._fill(result, exchange)
        return result

    def _fill(self, result: FetchResult, exchange: _Exchange) -> None:
        """Decode and extract, outside any host slot: this is CPU work, the site need not wait for it."""
        body = exchange.body or b""
        content_type = exchange.headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if not media:
            head = body[:1024]
            if b"\x00" in head:
                result.error = "not text (unknown binary content)"
                return
            media = "text/html" if b"<" in head else "text/plain"
        text, encoding = decode_page(body, content_type)
        result.encoding = encoding
        if media in PLAIN_TYPES:
            result.text = text.strip()
        else:
            extracted = _extract_pool().submit(extract_page, text, result.final_url).result()
            result.text, result.title, result.date, result.publisher = extracted
        if not result.text.strip():
            result.error = "no main text found"

    def _parse(self, raw_url: str) -> httpx.URL:
        if not isinstance(raw_url, str) or not raw_url.strip():
            raise _Failure("malformed URL: empty")
        text = raw_url.strip()
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise _Failure(f"malformed URL: {exc}") from None
        if url.scheme not in ("http", "https"):
            if not url.scheme:
                raise _Failure(f"malformed URL: no scheme in {text[:100]!r}")
            raise _Failure(f"unsupported scheme {url.scheme!r} (only http/https)")
        if not url.host:
            raise _Failure(f"malformed URL: no host in {text[:100]!r}")
        host = url.raw_host.decode("ascii", "replace")  # IDN hosts arrive here as punycode
        if not (_HOST_NAME.match(host) or ":" in host):  # ":" only in IPv6 literals, which httpx checked
            raise _Failure(f"malformed URL: bad host {url.host[:100]!r}")
        try:
            port = url.port
        except (httpx.InvalidURL, ValueError) as exc:
            raise _Failure(f"malformed URL: {exc}") from None
        if port is not None and not 0 < port < 65536:
            raise _Failure(f"malformed URL: port {port} out of range")
        return url.copy_with(fragment=None)

    def _follow(self, base: httpx.URL, location: str) -> httpx.URL:
        try:
            target = base.join(location.strip())
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise _Failure(f"bad redirect location: {exc}") from None
        return self._parse(str(target))

    def _check_target(self, url: httpx.URL, clock: _Clock) -> None:
        """Scheme and address check of one hop, before any byte is sent (the backend checks again)."""
        if url.scheme not in ("http", "https"):
            raise _Failure(f"unsupported scheme {url.scheme!r} (only http/https)")
        if self.allow_private:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        host = url.raw_host.decode("ascii", "replace")  # punycode, as the connection will use
        try:
            addresses = _resolve(host, port, clock.remaining())
        except TimeoutError:
            raise _Failure(f"timeout after {_seconds(self.timeout_s)}s (DNS lookup of {host})") from None
        except (OSError, UnicodeError):
            raise _Failure(f"DNS lookup failed for {host}") from None
        bad = _first_non_public(addresses)
        if bad is not None:
            raise _Failure(f"private address {bad} refused")

    @contextmanager
    def _slot(self, host: str, clock: _Clock) -> Iterator[None]:
        """Hold one of the host's slots and one global slot; waiting for them is not charged to `clock`."""
        with self._lock:
            sem = self._host_slots.setdefault(host, threading.BoundedSemaphore(self.per_host))
        started = time.monotonic()
        with sem, self._all_slots:
            clock.extend(time.monotonic() - started)
            previous = getattr(_local, "deadline", None)
            _local.deadline = clock.deadline
            try:
                yield
            finally:
                _local.deadline = previous

    def _exchange(self, url: httpx.URL, clock: _Clock, max_bytes: int, *, page: bool) -> _Exchange:
        """One GET. Redirects are returned, not followed; for pages, type and size are enforced."""
        if clock.expired():
            raise _Failure(f"timeout after {_seconds(self.timeout_s)}s")
        status: int | None = None
        with self._slot(url.host.lower(), clock):
            try:
                request = self._client.build_request("GET", url)
                response = self._client.send(request, stream=True)
                status = response.status_code
                try:
                    return self._read(response, clock, max_bytes, page=page)
                finally:
                    response.close()
            except _Failure:
                raise
            except httpx.TimeoutException:
                raise _Failure(f"timeout after {_seconds(self.timeout_s)}s", status) from None
            except httpx.ConnectError as exc:
                message = str(exc)
                if message.startswith(("private address", "DNS lookup failed")):
                    raise _Failure(message) from None
                raise _Failure(f"connection failed: {message or type(exc).__name__}"[:200]) from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise _Failure(f"malformed URL: {exc}") from None
            except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
                if clock.expired():
                    raise _Failure(f"timeout after {_seconds(self.timeout_s)}s", status) from None
                raise _Failure(f"network error: {type(exc).__name__}: {exc}"[:200], status) from None

    def _read(self, response: httpx.Response, clock: _Clock, max_bytes: int, *, page: bool) -> _Exchange:
        status = response.status_code
        headers = response.headers
        if status in REDIRECT_STATUSES:
            location = headers.get("location")
            if not location:
                raise _Failure(f"HTTP {status} without Location", status)
            return _Exchange(status, headers, location=location)
        if status >= 300:
            if page:
                raise _Failure(f"HTTP {status}", status)
            return _Exchange(status, headers)
        if page:
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media and media not in HTML_TYPES and media not in PLAIN_TYPES:
                raise _Failure(f"not text ({media[:80]})", status)
        declared = headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > max_bytes:
            raise _Failure(f"too large (> {max_bytes} bytes)", status)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise _Failure(f"too large (> {max_bytes} bytes)", status)
            if clock.expired():
                raise _Failure(f"timeout after {_seconds(self.timeout_s)}s", status)
        if page and body[:5] == b"%PDF-":
            raise _Failure("not text (application/pdf)", status)
        return _Exchange(status, headers, body=bytes(body))

    # -- robots.txt --------------------------------------------------------------------------

    def _robots_allow(self, url: httpx.URL, clock: _Clock, notes: list[str]) -> bool:
        origin = f"{url.scheme}://{url.netloc.decode('ascii', 'replace').lower()}"
        entry = self._robots.get(origin)
        if entry is None:
            with self._lock:
                lock = self._robots_locks.setdefault(origin, threading.Lock())
            started = time.monotonic()
            with lock:  # one thread fetches robots.txt per origin; the others wait for its answer
                clock.extend(time.monotonic() - started)
                entry = self._robots.get(origin)
                if entry is None:
                    entry = self._load_robots(url, clock)
                    self._robots[origin] = entry
        if entry.note and entry.note not in notes:
            notes.append(entry.note)
        if entry.parser is None:
            return True
        return entry.parser.can_fetch(self.user_agent, str(url))

    def _load_robots(self, page_url: httpx.URL, clock: _Clock) -> _Robots:
        """Fetch and parse robots.txt. Missing (4xx) allows all; 401/403 disallow all (as urllib does);
        a server error or timeout allows, with a note: an unreachable robots.txt is not a "no".

        It gets at most half the page's time budget, so a slow robots.txt still leaves time for the page.
        """
        sub = _Clock(min(clock.remaining(), self.timeout_s / 2))
        url = page_url.copy_with(path="/robots.txt", query=None, fragment=None)
        try:
            for _ in range(self.max_redirects + 1):
                self._check_target(url, sub)
                exchange = self._exchange(url, sub, ROBOTS_MAX_BYTES, page=False)
                if exchange.location is None:
                    break
                url = self._follow(url, exchange.location)
            else:
                return _Robots(None, "robots.txt: too many redirects; allowed")
        except _Failure as failure:
            if failure.message.startswith("too large"):
                return _Robots(None, "robots.txt too large; allowed")
            return _Robots(None, f"robots.txt unavailable ({failure.message}); allowed")
        status = exchange.status
        if status in (401, 403):
            parser = RobotFileParser()
            # typeshed omits the attribute can_fetch() reads first (urllib.robotparser sets it for 401/403 too)
            parser.disallow_all = True  # type: ignore[attr-defined]
            parser.modified()
            return _Robots(parser)
        if 400 <= status < 500:
            return _Robots(None)
        if status >= 500 or exchange.body is None:
            return _Robots(None, f"robots.txt unavailable (HTTP {status}); allowed")
        parser = RobotFileParser()
        parser.parse(exchange.body.decode("utf-8", errors="replace").splitlines())
        return _Robots(parser)
