"""DuckDuckGo web search through the `ddgs` package.

`ddgs` 9.x reports every failure as a `DDGSException` (or its `TimeoutException` subclass) whose
argument is the *last* engine error, itself a `DDGSException` wrapping the `primp` transport error.
With no network at all it fails within milliseconds, e.g.::

    DDGSException(DDGSException("DNSError: DNSError('error sending request for url
    (https://html.duckduckgo.com/html/) > error resolving DNS > DNS error: no records found ...')"))

So the error text is the only reliable signal, and this module classifies it:

* DNS failure, connection refused, unreachable network -> `SearchError(kind="network")` at once. Retrying
  a machine without network only delays the fallback to the local corpus.
* rate limit (`RatelimitException`, "202 Ratelimit", HTTP 429) -> retry with exponential backoff and full
  jitter, then `kind="ratelimit"`.
* timeout (`TimeoutException`, "timed out") -> retry likewise, then `kind="timeout"`.
* "No results found." (every engine answered, none had hits) -> `[]`; the caller records the empty query.

Messages never contain the query, so `AutoSearch` can de-duplicate degradations by message.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pipeline.models import JSONObject, SearchResult
from pipeline.search.base import SearchError

log = logging.getLogger("yanbao.search")

_TRACKING_PARAMS = {"spm", "from"}

# Substrings of transport errors that mean "this machine cannot reach the internet". Lower-case.
_DNS_MARKERS = (
    "dnserror",
    "error resolving dns",
    "dns error",
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "getaddrinfo failed",
)
_NETWORK_MARKERS = (
    *_DNS_MARKERS,
    "connecterror",
    "connection refused",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "failed to establish a new connection",
)
_RATELIMIT_RE = re.compile(r"ratelimit|rate limit|too many requests|\b429\b")
_TIMEOUT_MARKERS = ("timed out", "timeout")
_NO_RESULTS = "no results found"


def clean_url(url: str) -> str:
    """The URL as we store it: lower-case scheme and host, no fragment, no tracking parameters.

    DuckDuckGo's own redirect links (`duckduckgo.com/l/?uddg=<target>`) are unwrapped, so the same page
    reached directly or through the redirect is one source.
    """
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.endswith("duckduckgo.com") and parts.path.startswith("/l/"):
        target = dict(parse_qsl(parts.query)).get("uddg")
        if target:
            return clean_url(unquote(target))
    netloc = parts.netloc
    if parts.hostname:
        # Keep user info and port as given, lower-case only the host part.
        at = netloc.rfind("@") + 1
        rest = netloc[at:]
        port = ""
        if rest.rfind(":") > rest.rfind("]"):
            rest, port = rest[: rest.rfind(":")], rest[rest.rfind(":") :]
        netloc = netloc[:at] + rest.lower() + port
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, urlencode(query, doseq=True), ""))


def normalize_url(url: str) -> str:
    """Dedup key of a URL: `clean_url` plus no trailing slash (`/a/` and `/a` are the same page)."""
    cleaned = clean_url(url)
    parts = urlsplit(cleaned)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _error_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps: ddgs nests the engine error as the first argument, primp as cause."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop()
        if cur in out or len(out) > 20:
            continue
        out.append(cur)
        for nxt in (cur.__cause__, cur.__context__, *(a for a in cur.args if isinstance(a, BaseException))):
            if nxt is not None:
                todo.append(nxt)
    return out


def _chain_text(chain: list[BaseException]) -> str:
    return " | ".join(f"{type(e).__name__}: {e}" for e in chain).lower()


def _network_cause(chain: list[BaseException], text: str) -> str | None:
    """A short, stable cause if the error means "no network", else None.

    No host names: under ddgs' "auto" backend the last failing engine is random, and the message must be
    the same from run to run (it is recorded in the report's degradations).
    """
    if any(m in text for m in _DNS_MARKERS):
        return "DNS lookup failed"
    if "connection refused" in text:
        return "connection refused"
    if "network is unreachable" in text:
        return "network is unreachable"
    if "no route to host" in text:
        return "no route to host"
    if "connection reset" in text:
        return "connection reset"
    if any(m in text for m in _NETWORK_MARKERS):
        return "cannot connect"
    # Plain Python socket errors (fakes, or a future ddgs that lets them through).
    for e in chain:
        if isinstance(e, OSError) and not isinstance(e, TimeoutError):
            return f"{type(e).__name__}: {e}".strip().rstrip(":")
    return None


def _is_ratelimit(chain: list[BaseException], text: str) -> bool:
    if any(type(e).__name__ == "RatelimitException" for e in chain):
        return True
    return _RATELIMIT_RE.search(text) is not None


def _is_timeout(chain: list[BaseException], text: str) -> bool:
    if any(type(e).__name__ in ("TimeoutException", "TimeoutError") for e in chain):
        return True
    if any(isinstance(e, TimeoutError) for e in chain):
        return True
    return any(m in text for m in _TIMEOUT_MARKERS)


def classify_error(exc: BaseException) -> tuple[str, str]:
    """(kind, short cause) of a ddgs failure; kind is network | ratelimit | timeout | empty | other.

    Network is checked first: a DNS timeout on a machine without a resolver is "no network", and must not
    be retried like a slow server.
    """
    chain = _error_chain(exc)
    text = _chain_text(chain)
    cause = _network_cause(chain, text)
    if cause is not None:
        return "network", cause
    if _is_ratelimit(chain, text):
        return "ratelimit", "rate limited"
    if _is_timeout(chain, text):
        return "timeout", "timed out"
    if _NO_RESULTS in text:
        return "empty", "no results"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return "other", f"{type(exc).__name__}: {first[:200]}"


class TextClient(Protocol):
    """What the backend uses of `ddgs.DDGS`: its text search, one dict per hit (`href`, `title`, `body`)."""

    def text(
        self, query: str, *, region: str, safesearch: str, max_results: int
    ) -> Sequence[Mapping[str, object]] | None: ...


class DuckDuckGoSearch:
    """Web search via `ddgs.DDGS().text()`, with retries for rate limits and timeouts only."""

    engine = "duckduckgo"

    def __init__(
        self,
        region: str = "cn-zh",
        timeout_s: float = 10,
        max_retries: int = 3,
        backoff_s: float = 2.0,
        safesearch: str = "moderate",
        client_factory: Callable[[], TextClient] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """`max_retries` counts retries after the first attempt (so at most 1 + max_retries calls).

        `client_factory` returns an object with ddgs' `.text(query, region=, safesearch=, max_results=)`;
        tests inject a scripted fake. `sleep` and `rng` are injectable so tests check the backoff without
        waiting.
        """
        self.region = region
        self.timeout_s = timeout_s
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = backoff_s
        self.safesearch = safesearch
        self._client_factory = client_factory or self._default_client
        self._sleep = sleep
        self._rng = rng or random.Random()

    def _default_client(self) -> TextClient:
        import ddgs  # lazy: `yanbao --help` must not pay for the import

        # ddgs annotates `timeout` as int but hands it to its HTTP client and `wait()`, which take seconds
        # as a float: a fractional timeout works.
        return ddgs.DDGS(timeout=self.timeout_s)  # type: ignore[arg-type]

    def cache_identity(self) -> JSONObject:
        return {"engine": "duckduckgo", "region": self.region, "safesearch": self.safesearch}

    def backoff_delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff: uniform in [0, backoff_s * 2**attempt] (attempt from 0)."""
        return self._rng.uniform(0.0, self.backoff_s * (2**attempt))

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        if not query.strip() or max_results <= 0:
            return []
        attempt = 0
        while True:
            try:
                client = self._client_factory()
                raw = client.text(
                    query, region=self.region, safesearch=self.safesearch, max_results=max_results
                )
                return self._to_results(raw or [], max_results)
            except SearchError:
                raise
            except Exception as exc:  # noqa: BLE001 - ddgs raises arbitrary transport errors; we classify them
                kind, cause = classify_error(exc)
                log.debug("duckduckgo attempt %d failed (%s): %r", attempt + 1, kind, exc)
                if kind == "empty":
                    return []
                if kind == "network":
                    raise SearchError(
                        f"no network: cannot reach DuckDuckGo ({cause})", kind="network"
                    ) from None
                if kind == "other":
                    raise SearchError(f"DuckDuckGo search failed ({cause})", kind="other") from None
                if attempt >= self.max_retries:
                    if kind == "ratelimit":
                        msg = f"DuckDuckGo rate limit: still refused after {self.max_retries} retries"
                    else:
                        msg = (
                            f"DuckDuckGo timed out: no answer within {self.timeout_s:g} s, "
                            f"{self.max_retries} retries"
                        )
                    raise SearchError(msg, kind=kind) from None  # type: ignore[arg-type]
                delay = self.backoff_delay(attempt)
                log.info("duckduckgo %s, retry %d/%d in %.1f s", cause, attempt + 1, self.max_retries, delay)
                self._sleep(delay)
                attempt += 1

    def _to_results(self, raw: Sequence[Mapping[str, object]], max_results: int) -> list[SearchResult]:
        """Map ddgs dicts to `SearchResult`s, dropping hits without a URL and duplicate URLs."""
        seen: set[str] = set()
        out: list[SearchResult] = []
        for item in raw:
            href = str(item.get("href") or item.get("url") or "").strip()
            if not href:
                continue
            try:
                key = normalize_url(href)
                url = clean_url(href)
            except ValueError:  # malformed URL (bad IPv6 literal, port): not a usable source
                continue
            if key in seen:
                continue
            seen.add(key)
            out.append(
                SearchResult(
                    title=str(item.get("title") or "").strip() or url,
                    url=url,
                    snippet=str(item.get("body") or "").strip(),
                    publisher=_host(url),
                    engine="duckduckgo",
                )
            )
            if len(out) >= max_results:
                break
        return out
