"""The pool of Ollama hosts: least-busy choice, down-marking, per-host caps, and failover over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import pytest
from fake_ollama import FakeOllama, Status
from pydantic import BaseModel

from pipeline.llm.base import LLMError, Options, Task
from pipeline.llm.ollama import OllamaLLM
from pipeline.llm.pool import HostPool, split_hosts
from pipeline.models import TaskContext

MODEL = "qwen2.5:7b"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- choice ------------------------------------------------------------------------------------------


def test_least_busy_host_gets_the_next_request():
    pool = HostPool(["a", "b", "c"])
    with pool.lease() as first, pool.lease() as second:
        assert {first, second} == {"a", "b"}
        assert pool.choose() == "c"  # a and b each have one request in flight
        with pool.lease() as third:
            assert third == "c"
            with pool.lease() as fourth:  # all at one: the one leased longest ago
                assert fourth == first
    assert all(s.in_flight == 0 for s in pool.state().values())


def test_sequential_requests_alternate_between_idle_hosts():
    pool = HostPool(["a", "b", "c"])
    order = []
    for _ in range(6):
        with pool.lease() as host:
            order.append(host)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_split_hosts():
    assert split_hosts(" http://a:1, b:2 ,,") == ["http://a:1", "b:2"]
    assert split_hosts(["x", " ", "y"]) == ["x", "y"]


# -- down-marking --------------------------------------------------------------------------------------


def test_a_host_marked_down_gets_nothing_until_its_time_runs_out():
    clock = Clock()
    pool = HostPool(["a", "b"], down_s=30, clock=clock)
    pool.mark_down("a", "connection refused")
    assert not pool.healthy("a") and pool.healthy("b")
    for _ in range(5):
        with pool.lease() as host:
            assert host == "b"
    clock.now += 29.9
    assert pool.choose() == "b"
    clock.now += 0.2
    assert pool.healthy("a")
    assert pool.choose() == "a"  # back, and idle longer than b
    state = pool.state()["a"]
    assert state.failures == 1 and state.last_error == "connection refused"


def test_when_every_host_is_down_the_first_to_come_back_is_tried():
    clock = Clock()
    pool = HostPool(["a", "b"], down_s=30, clock=clock)
    pool.mark_down("a", "x")
    clock.now += 10
    pool.mark_down("b", "y")
    assert pool.choose() == "a"  # back 10 s before b: a pool never refuses outright
    with pool.lease() as host:
        assert host == "a"


def test_exclude_skips_hosts_already_tried_unless_none_is_left():
    pool = HostPool(["a", "b"])
    assert pool.choose(exclude=["a"]) == "b"
    assert pool.choose(exclude=["a", "b"]) in ("a", "b")


def test_one_host_is_a_pass_through():
    pool = HostPool(["only"])
    pool.mark_down("only", "refused")
    with pool.lease() as host:
        assert host == "only"


# -- per-host cap --------------------------------------------------------------------------------------


def test_per_host_limit_makes_a_lease_wait_for_a_free_slot():
    pool = HostPool(["a", "b"], limit=1)
    got: list[str] = []
    with pool.lease(), pool.lease():
        assert pool.choose() is None  # both hosts at their cap
        waiter = threading.Thread(target=lambda: got.append(_lease_once(pool)))
        waiter.start()
        waiter.join(timeout=0.3)
        assert waiter.is_alive() and not got  # still waiting
    waiter.join(timeout=5)
    assert got and got[0] in ("a", "b")


def _lease_once(pool: HostPool) -> str:
    with pool.lease() as host:
        return host


def test_many_threads_never_exceed_the_cap():
    pool = HostPool(["a", "b", "c"], limit=2)
    peak: Counter[str] = Counter()
    lock = threading.Lock()

    def work() -> None:
        with pool.lease() as host:
            with lock:
                now = pool.state()[host].in_flight
                peak[host] = max(peak[host], now)
            time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert max(peak.values()) <= 2
    assert sum(s.in_flight for s in pool.state().values()) == 0


# -- the engine over real HTTP -------------------------------------------------------------------------


class Slot(BaseModel):
    text: str


def _task(i: int) -> Task:
    return Task(step=f"s{i}", kind="k", schema=Slot, messages=[{"role": "user", "content": f"问题{i}"}],
                context=TaskContext(topic="t"))


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens: connection refused


@pytest.fixture
def two_fakes():
    with FakeOllama(models=[MODEL]) as a, FakeOllama(models=[MODEL]) as b:
        yield a, b


def test_three_hosts_one_down_every_request_is_served(two_fakes):
    a, b = two_fakes
    dead = _closed_port_url()
    llm = OllamaLLM(",".join([dead, a.url, b.url]), MODEL, Options(), max_retries=0, pool=None)
    llm.pool.down_s = 60
    results = [llm.complete(_task(i)) for i in range(12)]
    assert all(r.value is not None and r.degraded is None for r in results)  # none lost, with no retries
    assert Counter(r.host for r in results) == {a.url: 6, b.url: 6}
    assert len(a.requests) + len(b.requests) == 12
    # The dead host cost one refused connection, then was set aside; that request went elsewhere.
    failed_over = [r for r in results if r.requests == 2]
    assert len(failed_over) == 1 and "sent again to another host" in failed_over[0].notes[0]
    assert llm.pool.state()[dead].failures == 1


def test_a_host_answering_5xx_is_marked_down_and_its_request_retried_elsewhere(two_fakes):
    a, b = two_fakes
    a.script(Status(503, "overloaded"))
    llm = OllamaLLM(f"{a.url},{b.url}", MODEL, Options(), max_retries=0)
    first = llm.complete(_task(0))
    assert first.value is not None and first.host == b.url and first.requests == 2
    assert not llm.pool.healthy(a.url)
    later = [llm.complete(_task(i)).host for i in range(1, 5)]
    assert later == [b.url] * 4 and len(a.requests) == 1


def test_a_host_dying_mid_run_loses_no_request(two_fakes):
    a, b = two_fakes
    llm = OllamaLLM(f"{a.url},{b.url}", MODEL, Options(), max_retries=0)
    hosts = [llm.complete(_task(i)).host for i in range(4)]
    assert set(hosts) == {a.url, b.url}
    b.stop()
    after = [llm.complete(_task(i)) for i in range(4, 10)]
    assert all(r.value is not None for r in after)
    assert {r.host for r in after} == {a.url}


def test_concurrent_requests_spread_by_in_flight_count(two_fakes):
    a, b = two_fakes
    a.delay_s = b.delay_s = 0.2
    llm = OllamaLLM(f"{a.url},{b.url}", MODEL, Options())
    results: list = []
    threads = [threading.Thread(target=lambda i=i: results.append(llm.complete(_task(i)))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert Counter(r.host for r in results) == {a.url: 4, b.url: 4}


def test_check_model_sets_aside_unusable_hosts_and_fails_only_when_none_is_left(two_fakes):
    a, b = two_fakes
    b.models = ["other:1b"]
    dead = _closed_port_url()
    llm = OllamaLLM(f"{a.url},{b.url},{dead}", MODEL, Options())
    llm.check_model()
    assert set(llm.unusable) == {b.url, dead}
    assert "not available" in llm.unusable[b.url] and "connection refused" in llm.unusable[dead]
    assert llm.complete(_task(1)).host == a.url
    none = OllamaLLM(f"{b.url},{dead}", MODEL, Options())
    with pytest.raises(LLMError, match="no Ollama host is usable"):
        none.check_model()


def test_every_host_failing_is_one_error_naming_them(two_fakes):
    a, b = two_fakes
    a.script(Status(500, "x"))
    b.script(Status(500, "y"))
    llm = OllamaLLM(f"{a.url},{b.url}", MODEL, Options(), max_retries=0)
    with pytest.raises(LLMError) as err:
        llm.complete(_task(0))
    assert f"Ollama at {a.url}, {b.url} failed after 1 attempts" in str(err.value)
