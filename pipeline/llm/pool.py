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

One pool is shared per process and host list (`shared_pool`), so the scheduler's job threads and a
worker's concurrent reports respect the same per-host cap. With one host and no cap the pool is a
pass-through: the lease always yields that host and marking it down changes nothing.

**Across processes.** Alone, a process counts only its own requests: four workers would each think
every host idle, start on the same one, and each allow `limit` requests on a box that takes `limit` in
all. Workers (`yanbao worker`, `share_through`) therefore keep the counts in a `Ledger` on the broker's
Redis: a lease is a member of the host's sorted set (score: when it expires, so a killed worker's
leases lapse after `lease_s` instead of blocking a host for ever), taken by one Lua script that checks
the cap and adds atomically; a down mark is a key with an expiry that every worker sees. When Redis
does not answer, the pool says so once and goes on with this process's counts: balancing is
best-effort, a report never fails for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

DOWN_S = 30.0
LEASE_S = 900.0  # a lease the ledger forgets: longer than any request (timeouts are far shorter)
log = logging.getLogger("yanbao.pool")


class Ledger(Protocol):
    """In-flight leases and down marks kept outside this process, so that several processes balance
    one fleet of hosts together (`RedisLedger`)."""

    def busy(self, hosts: Sequence[str]) -> tuple[dict[str, int], dict[str, bool]]:
        """Leases held on each host by every process, and whether each host is marked down."""
        ...

    def acquire(self, host: str, limit: int) -> str | None:
        """A lease token on `host`, or None when `limit` (> 0) leases are held there already."""
        ...

    def release(self, host: str, token: str) -> None: ...

    def mark_down(self, host: str, seconds: float) -> None: ...


class RedisLedger:
    """The fleet's leases on Redis (the workers' broker). Keys live under `prefix`; every operation is
    one round trip (a pipeline or one script), well under a millisecond on a LAN."""

    _ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[2])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 60)
return 1
"""

    def __init__(self, url: str, prefix: str = "yanbao:pool", lease_s: float = LEASE_S) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._acquire = self._redis.register_script(self._ACQUIRE)
        self.prefix = prefix
        self.lease_s = lease_s

    def _key(self, kind: str, host: str) -> str:
        return f"{self.prefix}:{kind}:{host}"

    def _now(self) -> float:
        seconds, micros = self._redis.time()  # the server's clock: every worker agrees on it
        return float(seconds) + float(micros) / 1e6

    def busy(self, hosts: Sequence[str]) -> tuple[dict[str, int], dict[str, bool]]:
        now = self._now()
        pipe = self._redis.pipeline(transaction=False)
        for host in hosts:
            pipe.zcount(self._key("lease", host), now, "+inf")
            pipe.exists(self._key("down", host))
        replies = pipe.execute()
        counts = {h: int(replies[2 * i]) for i, h in enumerate(hosts)}
        down = {h: bool(replies[2 * i + 1]) for i, h in enumerate(hosts)}
        return counts, down

    def acquire(self, host: str, limit: int) -> str | None:
        token = f"{os.getpid()}-{uuid.uuid4().hex}"
        taken = self._acquire(keys=[self._key("lease", host)], args=[self._now(), limit, self.lease_s, token])
        return token if int(taken) else None

    def release(self, host: str, token: str) -> None:
        self._redis.zrem(self._key("lease", host), token)

    def mark_down(self, host: str, seconds: float) -> None:
        self._redis.set(self._key("down", host), "1", px=max(1, int(seconds * 1000)))


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
        ledger: Ledger | None = None,
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
        # Shared counts only matter when there is a choice or a cap to keep.
        self._ledger = ledger if ledger is not None and (len(hosts) > 1 or self.limit) else None

    @property
    def shared(self) -> bool:
        """Whether in-flight counts and down marks are the fleet's (a ledger) rather than this process's."""
        return self._ledger is not None

    def _ledger_failed(self, exc: Exception) -> None:
        log.warning("host pool: the shared ledger is unreachable (%s); balancing on this process's counts", exc)
        self._ledger = None

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
            return self._choose(set(exclude), self._fleet_view())

    def _choose(self, exclude: set[str], fleet: tuple[dict[str, int], dict[str, bool]] | None = None) -> str | None:
        """`fleet`: every process's leases and down marks (the ledger's view), else this process's own."""
        now = self._clock()
        busy = fleet[0] if fleet else {h: s.in_flight for h, s in self._hosts.items()}
        down = fleet[1] if fleet else {}
        candidates = [s for s in self._hosts.values() if s.host not in exclude] or list(self._hosts.values())
        healthy = [s for s in candidates if s.down_until <= now and not down.get(s.host)]
        if not healthy:  # all down: try the one that comes back first rather than refuse
            healthy = [min(candidates, key=lambda s: s.down_until)]
        free = [s for s in healthy if not self.limit or busy.get(s.host, 0) < self.limit]
        if not free:
            return None
        return min(free, key=lambda s: (busy.get(s.host, 0), s.last_leased)).host

    def _fleet_view(self) -> tuple[dict[str, int], dict[str, bool]] | None:
        if self._ledger is None:
            return None
        try:
            return self._ledger.busy(list(self._hosts))
        except Exception as exc:  # noqa: BLE001 - any Redis failure: fall back to local counts
            self._ledger_failed(exc)
            return None

    def _take(self, skip: set[str]) -> tuple[str, str | None] | None:
        """Choose a host and, with a ledger, take a lease on it there (atomically against the cap):
        (host, token), or None when every eligible host is full. Called under the pool's lock."""
        for _ in range(len(self._hosts) + 1):
            fleet = self._fleet_view()
            host = self._choose(skip, fleet)
            if host is None or self._ledger is None:
                return (host, None) if host is not None else None
            try:
                token = self._ledger.acquire(host, self.limit)
            except Exception as exc:  # noqa: BLE001
                self._ledger_failed(exc)
                return host, None
            if token is not None:
                return host, token
            # another process took the last slot between the look and the lease: look again
        return None

    @contextmanager
    def lease(self, exclude: Sequence[str] = ()) -> Iterator[str]:
        """Hold one slot on the chosen host for the duration of a request. `exclude` names hosts this
        request already failed on; they are used only when no other host is left."""
        skip = set(exclude)
        with self._cond:
            while (taken := self._take(skip)) is None:
                # a slot frees up (here, or in another process: poll the ledger), or a down host's time runs out
                self._cond.wait(timeout=0.05 if self._ledger is not None else 1.0)
            host, token = taken
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
            if token is not None and self._ledger is not None:
                try:
                    self._ledger.release(host, token)
                except Exception as exc:  # noqa: BLE001 - the lease lapses by itself after lease_s
                    self._ledger_failed(exc)

    def mark_down(self, host: str, why: str, seconds: float | None = None) -> None:
        """Give `host` no requests for `seconds` (default `down_s`). With one host this has no effect
        on routing: there is nowhere else to go."""
        with self._cond:
            state = self._hosts[host]
            state.failures += 1
            state.last_error = why
            state.down_until = self._clock() + (self.down_s if seconds is None else seconds)
            self._cond.notify_all()
        if self._ledger is not None:  # every process stops sending there, not only this one
            try:
                self._ledger.mark_down(host, self.down_s if seconds is None else seconds)
            except Exception as exc:  # noqa: BLE001
                self._ledger_failed(exc)

    def mark_ok(self, host: str) -> None:
        """A request on `host` got its reply. A down mark is left to expire: one success from a
        request that started before the failure says little about the host now."""
        with self._cond:
            self._hosts[host].served += 1


_shared: dict[tuple[tuple[str, ...], int, float], HostPool] = {}
_shared_lock = threading.Lock()
_ledger_url = ""


def share_through(url: str) -> None:
    """Keep this process's pools' counts on the Redis at `url` (a worker calls it with its broker), so
    that every process of the fleet balances and caps the hosts together. Pools made before are kept."""
    global _ledger_url
    with _shared_lock:
        _ledger_url = url if url.startswith(("redis://", "rediss://", "unix://")) else ""


def shared_pool(hosts: Sequence[str], *, limit: int = 0, down_s: float = DOWN_S) -> HostPool:
    """The process-wide pool for this host list and these limits: concurrent runs in one process (the
    scheduler's threads, a worker's reports) share in-flight counts, caps and down marks; in a worker,
    every worker's (`share_through`)."""
    key = (tuple(hosts), limit, down_s)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None:
            ledger: Ledger | None = None
            if _ledger_url:
                try:
                    ledger = RedisLedger(_ledger_url)
                except ImportError:  # the scale extra is missing: a worker cannot run without it anyway
                    ledger = None
            pool = _shared[key] = HostPool(hosts, limit=limit, down_s=down_s, ledger=ledger)
        return pool
