"""A pool of Ollama hosts: which server gets the next request.

`ollama_host` may name several servers (a TOML list, or comma separated in a flag or `OLLAMA_HOST`).
Each request leases one host from the pool:

* the **least busy healthy** host: fewest requests in flight from this process, ties broken by the
  host that was leased least recently, so a sequential client alternates instead of always hitting
  the first host;
* a host that failed (connection refused, HTTP 5xx, not Ollama) is **marked down** for `down_s`
  seconds and gets no requests meanwhile; when every host is down the one that comes back soonest is
  tried anyway (a pool never refuses outright: the engine's retries and backoff decide when to give
  up, as they do for one host);
* `limit` caps the requests in flight per host (0: no cap); a lease waits for a free slot.

The pool only counts this process's requests: several worker processes each balance their own
traffic, which is enough to spread load and route around a dead server without a shared registry.
One pool is shared per process and host list (`shared_pool`), so the scheduler's job threads and a
worker's concurrent reports respect the same per-host cap. With one host the pool is a pass-through:
the lease always yields that host and marking it down changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

DOWN_S = 30.0


def split_hosts(value: str | Sequence[str]) -> list[str]:
    """`"http://a:1, b:2"` or `["http://a:1", "b:2"]` → the non-empty items, stripped, in order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


@dataclass
class HostState:
    """What the pool knows about one host (a snapshot is returned by `HostPool.state`)."""

    host: str
    in_flight: int = 0
    served: int = 0  # requests that got their reply
    failures: int = 0  # times the host was marked down
    down_until: float = 0.0  # clock value before which the host gets no requests
    last_error: str = ""
    last_leased: float = float("-inf")


class HostPool:
    """Thread-safe least-busy choice among hosts, with down-marking and a per-host cap."""

    def __init__(
        self,
        hosts: Sequence[str],
        *,
        limit: int = 0,
        down_s: float = DOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        hosts = list(dict.fromkeys(hosts))
        if not hosts:
            raise ValueError("a host pool needs at least one host")
        self.limit = max(0, limit)
        self.down_s = down_s
        self._clock = clock
        self._hosts = {h: HostState(h) for h in hosts}
        self._cond = threading.Condition()
        self._seq = 0.0  # lease order, for ties (monotonic even when the clock is frozen in tests)

    @property
    def hosts(self) -> list[str]:
        return list(self._hosts)

    def __len__(self) -> int:
        return len(self._hosts)

    def state(self) -> dict[str, HostState]:
        with self._cond:
            return {h: HostState(**vars(s)) for h, s in self._hosts.items()}

    def healthy(self, host: str) -> bool:
        with self._cond:
            return self._hosts[host].down_until <= self._clock()

    def choose(self, exclude: Sequence[str] = ()) -> str | None:
        """The host the next request should go to, or None when every eligible host is at its cap.
        Does not lease; `lease` calls this under the pool's lock."""
        with self._cond:
            return self._choose(set(exclude))

    def _choose(self, exclude: set[str]) -> str | None:
        now = self._clock()
        candidates = [s for s in self._hosts.values() if s.host not in exclude] or list(self._hosts.values())
        healthy = [s for s in candidates if s.down_until <= now]
        if not healthy:  # all down: try the one that comes back first rather than refuse
            healthy = [min(candidates, key=lambda s: s.down_until)]
        free = [s for s in healthy if not self.limit or s.in_flight < self.limit]
        if not free:
            return None
        return min(free, key=lambda s: (s.in_flight, s.last_leased)).host

    @contextmanager
    def lease(self, exclude: Sequence[str] = ()) -> Iterator[str]:
        """Hold one slot on the chosen host for the duration of a request. `exclude` names hosts this
        request already failed on; they are used only when no other host is left."""
        skip = set(exclude)
        with self._cond:
            while (host := self._choose(skip)) is None:
                self._cond.wait(timeout=1.0)  # a slot frees up, or a down host's time runs out
            state = self._hosts[host]
            state.in_flight += 1
            self._seq += 1
            state.last_leased = self._seq
        try:
            yield host
        finally:
            with self._cond:
                state.in_flight -= 1
                self._cond.notify_all()

    def mark_down(self, host: str, why: str, seconds: float | None = None) -> None:
        """Give `host` no requests for `seconds` (default `down_s`). With one host this has no effect
        on routing: there is nowhere else to go."""
        with self._cond:
            state = self._hosts[host]
            state.failures += 1
            state.last_error = why
            state.down_until = self._clock() + (self.down_s if seconds is None else seconds)
            self._cond.notify_all()

    def mark_ok(self, host: str) -> None:
        """A request on `host` got its reply. A down mark is left to expire: one success from a
        request that started before the failure says little about the host now."""
        with self._cond:
            self._hosts[host].served += 1


_shared: dict[tuple, HostPool] = {}
_shared_lock = threading.Lock()


def shared_pool(hosts: Sequence[str], *, limit: int = 0, down_s: float = DOWN_S) -> HostPool:
    """The process-wide pool for this host list and these limits: concurrent runs in one process (the
    scheduler's threads, a worker's reports) share in-flight counts, caps and down marks."""
    key = (tuple(hosts), limit, down_s)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None:
            pool = _shared[key] = HostPool(hosts, limit=limit, down_s=down_s)
        return pool
