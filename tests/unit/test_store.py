import sqlite3
from pathlib import Path

import pytest
from pydantic import BaseModel

from pipeline.llm.base import Completion, Task
from pipeline.models import TaskContext
from pipeline.run.store import MIGRATIONS, RecordingLLM, RunStore


class Slot(BaseModel):
    text: str


class CountingLLM:
    provider = "fake"
    model = "m"

    def __init__(self):
        self.calls = 0

    def cache_identity(self):
        return {"provider": "fake", "model": "m"}

    def complete(self, task):
        self.calls += 1
        return Completion(value=Slot(text="答案"), requests=1, prompt_tokens=10, completion_tokens=3, seconds=0.01)


def task(msg: str) -> Task:
    return Task(step="s", kind="k", schema=Slot, messages=[{"role": "user", "content": msg}], context=TaskContext(topic="t"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The run store's two engines: a SQLite file, and a database on the test PostgreSQL (skips
    when PostgreSQL is not installed)."""
    if request.param == "sqlite":
        return tmp_path / "y.db"
    return request.getfixturevalue("postgres_url")


def test_migrations_are_idempotent_and_wal(tmp_path: Path):
    RunStore(tmp_path / "y.db")
    store = RunStore(tmp_path / "y.db")
    conn = sqlite3.connect(tmp_path / "y.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    run = store.start_run("主题", "research", {"a": 1})
    assert store.get_run(run)["status"] == "running"
    store.finish_run(run, "done", report_path="r.md")
    assert store.list_runs()[0]["status"] == "done"


def test_migrations_are_idempotent_on_postgresql(postgres_url: str):
    RunStore(postgres_url)
    store = RunStore(postgres_url)
    assert store._conn().execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    run = store.start_run("主题", "research", {"a": 1})
    assert store.get_run(run)["status"] == "running"
    store.finish_run(run, "done", report_path="r.md")
    assert store.list_runs()[0]["status"] == "done"


def test_cache_hit_sends_nothing_and_is_recorded(store_target):
    store = RunStore(store_target)
    inner = CountingLLM()
    run = store.start_run("t", "research", {})
    llm = RecordingLLM(inner, store, run)
    assert llm.complete(task("问")).value.text == "答案"
    again = llm.complete(task("问"))
    assert again.cached and again.value.text == "答案" and inner.calls == 1
    llm.complete(task("另一个问题"))
    assert inner.calls == 2
    outcomes = [c["outcome"] for c in store.calls(run, "llm")]
    assert outcomes == ["ok", "cached", "ok"]
    assert sum(c["requests"] for c in store.calls(run, "llm")) == 2


def test_uncacheable_engines_are_recorded_but_never_replayed(store_target):
    store = RunStore(store_target)
    inner = CountingLLM()
    inner.cacheable = False
    llm = RecordingLLM(inner, store, store.start_run("t", "research", {}))
    llm.complete(task("问"))
    llm.complete(task("问"))
    assert inner.calls == 2


def test_a_resumed_run_sends_only_what_is_missing(store_target):
    """A process dies after two of three tasks: the run, resumed by a new process (a new store
    connection), answers those two from the store and sends only the third."""
    first = RunStore(store_target)
    run = first.start_run("t", "research", {}, settings={"topic": "t"}, stem="day-t")
    inner = CountingLLM()
    llm = RecordingLLM(inner, first, run)
    llm.complete(task("一"))
    llm.complete(task("二"))
    first._write("UPDATE runs SET pid=? WHERE id=?", (2**22 + 12345, run))  # SQLite: a pid that is gone
    first.close()  # PostgreSQL: the session that held the run's lock is gone; the run is still `running`
    assert RunStore(store_target).list_runs(unfinished=True)[0]["status"] == "interrupted"

    second = RunStore(store_target)
    assert second.start_run("t", "research", {}, run_id=run) == run
    assert second.get_run(run)["stem"] == "day-t"  # a resume keeps the recorded file name
    resumed = CountingLLM()
    llm = RecordingLLM(resumed, second, run)
    assert [llm.complete(task(m)).cached for m in ("一", "二", "三")] == [True, True, False]
    assert resumed.calls == 1
    assert [c["outcome"] for c in second.calls(run, "llm")] == ["ok", "ok", "cached", "cached", "ok"]
    second.finish_run(run, "done", report_path="r.md")
    assert RunStore(store_target).list_runs(unfinished=True) == []
