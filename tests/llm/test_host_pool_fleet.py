"""Several processes, one fleet of Ollama hosts: in-flight counts, caps and down marks shared through
Redis (`RedisLedger`), against the real Redis of tests/conftest.py. Two `HostPool`s stand for two worker
processes: they share nothing but the ledger, exactly as two processes would."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

pytest.importorskip("redis", reason="the scale extra is not installed: pip install -e '.[scale]'")

from pipeline.llm import pool as pool_module  # noqa: E402
from pipeline.llm.pool import HostPool, RedisLedger  # noqa: E402

HOSTS = ["http://gpu-a:11434", "http://gpu-b:11434"]


def _two_processes(redis_url: str | None, limit: int = 0, prefix: str = "t") -> tuple[HostPool, HostPool]:
    def ledger() -> RedisLedger | None:
        return RedisLedger(redis_url, prefix=prefix) if redis_url else None

    return HostPool(HOSTS, limit=limit, ledger=ledger()), HostPool(HOSTS, limit=limit, ledger=ledger())


def _peak_per_host(pools: tuple[HostPool, HostPool], threads_per_pool: int, hold_s: float) -> Counter[str]:
    """Lease from both pools at once from many threads; the most leases any host held at one time."""
    lock = threading.Lock()
    now: Counter[str] = Counter()
    peak: Counter[str] = Counter()

    def one(pool: HostPool) -> None:
        for _ in range(3):
            with pool.lease() as host:
                with lock:
                    now[host] += 1
                    peak[host] = max(peak[host], now[host])
                time.sleep(hold_s)
                with lock:
                    now[host] -= 1

    threads = [threading.Thread(target=one, args=(p,)) for p in pools for _ in range(threads_per_pool)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return peak


def test_the_cap_holds_across_processes(redis_url: str) -> None:
    peak = _peak_per_host(_two_processes(redis_url, limit=1), threads_per_pool=3, hold_s=0.05)
    assert set(peak) == set(HOSTS)  # both hosts used
    assert max(peak.values()) == 1, peak


def test_without_the_ledger_each_process_keeps_only_its_own_cap() -> None:
    # the control: what the ledger prevents (each process allows `limit` on a host, so two allow two)
    peak = _peak_per_host(_two_processes(None, limit=1), threads_per_pool=3, hold_s=0.05)
    assert max(peak.values()) == 2, peak


def test_the_least_busy_host_is_judged_by_every_process(redis_url: str) -> None:
    a, b = _two_processes(redis_url)
    with a.lease() as first:
        assert b.choose() != first
        with b.lease() as second:
            assert second != first
    alone_a, alone_b = _two_processes(None)
    with alone_a.lease() as first:
        assert alone_b.choose() == first  # the control: a process alone sees every host idle


def test_a_down_mark_is_seen_by_every_process(redis_url: str) -> None:
    a, b = _two_processes(redis_url)
    a.mark_down(HOSTS[0], "connection refused", seconds=30)
    assert [b.choose() for _ in range(3)] == [HOSTS[1]] * 3
    a.mark_down(HOSTS[1], "connection refused", seconds=0.2)
    time.sleep(0.3)  # the mark expires on the server, for everyone
    assert b.choose() == HOSTS[1]


def test_a_killed_process_leases_lapse(redis_url: str) -> None:
    ledger = RedisLedger(redis_url, prefix="lapse", lease_s=0.3)
    assert ledger.acquire(HOSTS[0], limit=1) is not None  # never released: its process "died"
    assert ledger.acquire(HOSTS[0], limit=1) is None
    time.sleep(0.4)
    assert ledger.acquire(HOSTS[0], limit=1) is not None
    assert ledger.busy(HOSTS)[0] == {HOSTS[0]: 1, HOSTS[1]: 0}


def test_an_unreachable_ledger_falls_back_to_this_process(caplog: pytest.LogCaptureFixture) -> None:
    pool = HostPool(HOSTS, limit=1, ledger=RedisLedger("redis://127.0.0.1:1/0"))
    assert pool.shared
    with caplog.at_level("WARNING", logger="yanbao.pool"), pool.lease() as host:
        assert host in HOSTS
    assert not pool.shared
    assert "ledger is unreachable" in caplog.text


def test_one_host_without_a_cap_never_asks_the_ledger(redis_url: str) -> None:
    assert not HostPool(HOSTS[:1], ledger=RedisLedger(redis_url)).shared
    assert HostPool(HOSTS[:1], limit=2, ledger=RedisLedger(redis_url)).shared


def test_a_worker_shares_its_pools_through_the_broker(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "_shared", {})
    monkeypatch.setattr(pool_module, "_ledger_url", "")
    assert not pool_module.shared_pool(HOSTS).shared
    pool_module.share_through(redis_url)
    assert pool_module.shared_pool(HOSTS, limit=3).shared
    pool_module.share_through("amqp://elsewhere")  # not Redis: nothing to keep counts in
    assert not pool_module.shared_pool(HOSTS, limit=4).shared
