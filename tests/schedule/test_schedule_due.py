"""Due logic with a controlled clock, and the scheduler run in-process with a stand-in for run_report."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.run.runner import RunFailed
from pipeline.run.schedule import (
    check_cron,
    due_jobs,
    is_due,
    iso,
    last_run,
    latest_slot,
    load_jobs,
    next_slot,
    run_jobs,
)
from pipeline.run.store import RunStore


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- pure functions ----------------------------------------------------------------------------------


def test_latest_and_next_slot():
    assert latest_slot("0 8 * * *", at("2025-06-02T08:00:00")) == at("2025-06-02T08:00:00")
    assert latest_slot("0 8 * * *", at("2025-06-02T07:59:59")) == at("2025-06-01T08:00:00")
    assert latest_slot("*/10 * * * *", at("2025-06-02T08:17:30")) == at("2025-06-02T08:10:00")
    assert next_slot("0 8 * * *", at("2025-06-02T08:00:00")) == at("2025-06-03T08:00:00")


def test_never_run_is_due_when_a_slot_fell_in_the_last_24_hours():
    assert is_due("0 8 * * *", at("2025-06-02T09:00"), None)  # today's 08:00 slot
    assert is_due("0 8 * * *", at("2025-06-02T07:00"), None)  # yesterday's 08:00, 23 h ago
    # weekly on Mondays (2025-06-02 is a Monday): on Thursday the last slot is 3 days old
    assert not is_due("0 8 * * 1", at("2025-06-05T09:00"), None)
    assert is_due("0 8 * * 1", at("2025-06-02T08:00"), None)


def test_due_and_not_yet_due():
    last = at("2025-06-02T08:00:03")  # ran for the 08:00 slot
    assert not is_due("0 8 * * *", at("2025-06-02T20:00"), last)
    assert not is_due("0 8 * * *", at("2025-06-03T07:59:59"), last)
    assert is_due("0 8 * * *", at("2025-06-03T08:00:00"), last)
    assert is_due("0 8 * * *", at("2025-06-03T08:05:00"), last)


def test_missed_slots_make_it_due_once():
    last = at("2025-06-02T08:00:00")
    # three days of missed slots: due ...
    assert is_due("0 8 * * *", at("2025-06-05T12:00"), last)
    # ... and once it has run (at the scheduler's clock), not due again until the next slot
    assert not is_due("0 8 * * *", at("2025-06-05T12:10"), at("2025-06-05T12:00"))


@pytest.mark.parametrize("expr", ["", "* * * *", "* * * * * *", "61 * * * *", "0 25 * * *", "a b c d e", 7])
def test_bad_cron(expr):
    with pytest.raises(ValueError):
        check_cron(expr)


# -- the scheduler with a stand-in runner -----------------------------------------------------------


class FakeRunner:
    """Records calls; topics containing 坏 fail; each call sleeps `delay` (to see concurrency)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.delay = delay
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, settings, topic, warn=None, day=None, stem=None, **kw):
        with self._lock:
            self.calls.append((topic, stem, day))
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
            if "坏" in topic:
                raise RunFailed(f"cannot reach Ollama for {topic}")
            if "炸" in topic:
                raise ZeroDivisionError("division by zero")
            path = settings.out / f"{stem}.md"
            path.write_text(f"# {topic}\n", encoding="utf-8")
            return SimpleNamespace(report_path=path, run_id=f"run-{stem}", empty=False)
        finally:
            with self._lock:
                self.active -= 1


def jobs_toml(tmp_path: Path, specs: list[tuple[str, str, str]]) -> Path:
    parts = ['[defaults]\nllm = "extractive"\nsearch = "local"\n']
    for name, topic, cron in specs:
        parts.append(f'[[job]]\nname = "{name}"\ntopics = ["{topic}"]\ncron = "{cron}"\nout = "out"\n')
    path = tmp_path / "jobs.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def test_scheduler_runs_due_jobs_once_then_waits(tmp_path):
    jobs = load_jobs(jobs_toml(tmp_path, [("daily", "人工智能", "0 8 * * *"), ("weekly", "算力", "0 8 * * 1")]), env={})
    runner = FakeRunner()
    now = at("2025-06-05T09:00")  # Thursday: daily is due (new, slot 1 h ago), weekly is not (3 days)
    assert [j.name for j in due_jobs(jobs, now)] == ["daily"]
    results = run_jobs(due_jobs(jobs, now), now, runner=runner, clock=lambda: now)
    assert [(r.job, r.status) for r in results] == [("daily", "done")]
    assert runner.calls == [("人工智能", "daily", "2025-06-05")]
    assert (tmp_path / "out" / "daily.md").is_file()
    row = last_run(jobs[0])
    assert row["status"] == "done" and row["started_at"] == iso(now) and row["run_id"] == "run-daily"
    assert row["report_path"].endswith("daily.md")

    # later the same day: nothing due; the scheduler never calls the runner
    later = at("2025-06-05T20:00")
    assert due_jobs(jobs, later) == []
    # three missed daily slots later: due, and run exactly once
    much_later = at("2025-06-08T10:00")
    due = due_jobs(jobs, much_later)
    assert [j.name for j in due] == ["daily"]
    run_jobs(due, much_later, runner=runner, clock=lambda: much_later)
    assert len(runner.calls) == 2
    assert due_jobs(jobs, much_later + timedelta(minutes=10)) == []
    # Monday 08:00: the weekly job's slot comes round
    monday = at("2025-06-09T08:00")
    assert sorted(j.name for j in due_jobs(jobs, monday)) == ["daily", "weekly"]


def test_interrupted_execution_does_not_count(tmp_path):
    (job,) = load_jobs(jobs_toml(tmp_path, [("daily", "人工智能", "0 8 * * *")]), env={})
    store = RunStore(job.settings.db_path)
    row = store.start_job_run("daily", iso(at("2025-06-05T08:00")))
    store._write("UPDATE job_runs SET pid=? WHERE id=?", (2**22 + 12345, row))  # a process that is gone
    assert store.job_runs("daily")[0]["status"] == "interrupted"
    assert last_run(job) is None
    assert is_due(job.cron, at("2025-06-05T08:30"), None)


def test_failing_job_does_not_stop_the_others(tmp_path):
    specs = [("good-1", "人工智能", "*/10 * * * *"), ("bad", "坏主题", "*/10 * * * *"),
             ("boom", "炸主题", "*/10 * * * *"), ("good-2", "算力", "*/10 * * * *")]
    jobs = load_jobs(jobs_toml(tmp_path, specs), env={})
    now = at("2025-06-05T09:00")
    seen = []
    results = run_jobs(jobs, now, runner=FakeRunner(), clock=lambda: now, on_result=seen.append)
    status = {r.job: r.status for r in results}
    assert status == {"good-1": "done", "bad": "failed", "boom": "failed", "good-2": "done"}
    assert sorted(r.job for r in seen) == sorted(status)
    errors = {r.job: r.error for r in results}
    assert "cannot reach Ollama for 坏主题" in errors["bad"]
    assert errors["boom"] == "ZeroDivisionError: division by zero"
    rows = {r["job"]: r for r in RunStore(tmp_path / "out" / "yanbao.db").job_runs(limit=10)}
    assert rows["bad"]["status"] == "failed" and "cannot reach Ollama" in rows["bad"]["error"]
    assert rows["good-2"]["status"] == "done" and rows["good-2"]["error"] is None
    # a failed execution counts as a run: it is retried at the next slot, not on every pass
    assert [j.name for j in due_jobs(jobs, at("2025-06-05T09:05"))] == []
    assert len(due_jobs(jobs, at("2025-06-05T09:10"))) == 4


def test_due_jobs_run_concurrently(tmp_path):
    """Four jobs meet at a barrier inside the runner: only possible when four run at once."""
    jobs = load_jobs(jobs_toml(tmp_path, [(f"job-{i}", f"主题{i}", "*/10 * * * *") for i in range(8)]), env={})
    barrier = threading.Barrier(4, timeout=20)
    runner = FakeRunner()
    calls = {"n": 0}
    lock = threading.Lock()

    def gated(settings, topic, **kw):
        with lock:
            calls["n"] += 1
            first_wave = calls["n"] <= 4
        if first_wave:
            barrier.wait()
        return runner(settings, topic, **kw)

    now = at("2025-06-05T09:00")
    results = run_jobs(jobs, now, concurrency=4, runner=gated, clock=lambda: now)
    assert [r.status for r in results] == ["done"] * 8, [r.error for r in results]
    assert not barrier.broken and len(runner.calls) == 8
    # and never more than asked for
    runner2 = FakeRunner(delay=0.05)
    later = at("2025-06-05T09:10")
    run_jobs(jobs, later, concurrency=2, runner=runner2, clock=lambda: later)
    assert runner2.peak <= 2 and len(runner2.calls) == 8


def test_migration_3_upgrades_an_existing_store(tmp_path):
    import sqlite3

    from pipeline.run.store import MIGRATIONS

    db = tmp_path / "yanbao.db"
    with sqlite3.connect(db) as conn:  # a store written before scheduled jobs existed
        for sql in MIGRATIONS[:2]:
            conn.executescript(sql)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("INSERT INTO runs (id, topic, kind, config, status, started_at) VALUES ('r1', 't', 'research', '{}', 'done', 'x')")
    store = RunStore(db)
    assert store._conn().execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 3
    assert store.get_run("r1")["status"] == "done"
    row = store.start_job_run("daily", "2025-06-05T08:00:00+00:00", "now")
    store.finish_job_run(row, "failed", error="boom", finished_at="2025-06-05T08:01:00+00:00")
    (r,) = store.job_runs("daily")
    assert (r["status"], r["error"], r["trigger"], r["finished_at"]) == ("failed", "boom", "now", "2025-06-05T08:01:00+00:00")
    assert store.last_job_run("daily")["id"] == row and store.last_job_run("other") is None
