"""Web search with the local corpus as fallback.

A report must still be written when DuckDuckGo is unreachable or throttling us, but silently mixing
local answers into a "web" report would mislead the reader, so every fallback is recorded in
`degraded` (the run writes it into the report's degradations section).
"""

from __future__ import annotations

import logging
import threading

from pipeline.models import JSONObject, SearchResult
from pipeline.search.base import Search, SearchError

log = logging.getLogger("yanbao.search")

FALLBACK_KINDS = frozenset({"network", "ratelimit", "timeout"})


class AutoSearch:
    """Try `primary`; on a network, rate-limit or timeout `SearchError`, answer from `fallback`.

    After a `network` error the primary is not tried again for the rest of the run: a machine without
    network stays without network, and each attempt would only add latency. Rate limits and timeouts are
    transient, so the primary is tried again on the next query.

    `fallback` may be None (no usable local corpus); the primary's errors then propagate, with the reason
    the fallback is missing appended to the message.
    """

    def __init__(self, primary: Search, fallback: Search | None, fallback_error: str = "") -> None:
        self.primary = primary
        self.fallback = fallback
        self.fallback_error = fallback_error
        self.engine: str = primary.engine
        self.degraded: list[dict[str, str]] = []  # {step, reason}: the report's degradations
        self.primary_disabled = False
        self._causes: set[str] = set()
        self._lock = threading.Lock()

    def cache_identity(self) -> JSONObject:
        return {
            "engine": "auto",
            "primary": self.primary.cache_identity(),
            "fallback": self.fallback.cache_identity() if self.fallback is not None else None,
        }

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        if not self.primary_disabled:
            try:
                results = self.primary.search(query, max_results)
                self.engine = self.primary.engine
                return results
            except SearchError as exc:
                if exc.kind not in FALLBACK_KINDS:
                    raise
                if self.fallback is None:
                    raise SearchError(
                        f"{exc}; no local fallback: {self.fallback_error}", kind=exc.kind
                    ) from None
                self._record(exc)
        results = self.fallback.search(query, max_results)  # type: ignore[union-attr]
        self.engine = self.fallback.engine  # type: ignore[union-attr]
        return results

    def _record(self, exc: SearchError) -> None:
        cause = str(exc)
        with self._lock:
            if exc.kind == "network" and not self.primary_disabled:
                self.primary_disabled = True
                log.warning("%s: %s; using local sources for the rest of the run", self.primary.engine, cause)
            if cause in self._causes:
                return
            self._causes.add(cause)
            self.degraded.append(
                {
                    "step": "search",
                    "reason": f"{self.primary.engine} unavailable ({cause}); answered from local sources",
                }
            )
