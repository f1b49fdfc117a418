"""With a shared store, the locks that were `flock` files are PostgreSQL advisory locks: they exclude
other processes (other machines) and die with the process that holds them."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from storekit import hold_lock, report_files, run_args, spawn, wait_for, yanbao

from pipeline.config import load_settings
from pipeline.run.locks import Exclusive
from pipeline.run.schedule import Job, run_job
from pipeline.run.store import RunStore

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[scale]'")


def test_advisory_lock_excludes_another_process_and_dies_with_it(postgres_url: str, tmp_path: Path) -> None:
    holder = hold_lock(postgres_url, "report:/srv/out/daily", tmp_path / "a.lock")
    try:
        with Exclusive(postgres_url, "report:/srv/out/daily", tmp_path / "b.lock") as lock:
            assert not lock.acquired
        with Exclusive(postgres_url, "report:/srv/out/other", tmp_path / "c.lock") as lock:
            assert lock.acquired  # another name is another lock
        # the flock files play no part with a shared store
        assert not (tmp_path / "b.lock").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)

    def free() -> bool:
        with Exclusive(postgres_url, "report:/srv/out/daily", tmp_path / "b.lock") as again:
            return again.acquired

    assert wait_for(free, timeout=15)  # the server releases a killed session's locks


def test_a_run_refuses_a_report_another_machine_is_writing(
    postgres_url: str, fake_ollama, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stem = f"{datetime.now().date().isoformat()}-人工智能发展趋势"
    holder = hold_lock(postgres_url, f"report:{(out / stem).resolve()}", tmp_path / "elsewhere.lock")
    try:
        res = yanbao(postgres_url, *run_args(fake_ollama.url, corpus, out, "--breadth", "1", "--max-loops", "1"))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("yanbao: another yanbao run is writing") and res.stderr.count("\n") == 1
    assert report_files(out) == []  # nothing written, not even a lock file
    assert fake_ollama.requests == []


def test_scheduler_skips_a_job_another_machine_is_running(postgres_url: str, tmp_path: Path) -> None:
    settings, _ = load_settings({"out": tmp_path / "out", "store": postgres_url}, env={})
    job = Job("daily", "research", ["人工智能发展趋势"], "0 8 * * *", settings)
    ran: list[str] = []

    def runner(*args, **kwargs):  # the report itself is not what this test is about
        ran.append(args[1])
        raise AssertionError("must not run")

    holder = hold_lock(postgres_url, "job:daily", tmp_path / "other.lock")
    try:
        result = run_job(job, datetime(2025, 6, 5, 8, 5, tzinfo=UTC), trigger="now", runner=runner)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    assert result.status == "skipped" and "database lock job:daily" in (result.note or "")
    assert ran == [] and RunStore(postgres_url).job_runs("daily") == []


def test_a_killed_run_is_interrupted_for_every_machine(postgres_url: str, fake_ollama, corpus: Path, tmp_path: Path) -> None:
    """A run's liveness is its advisory lock, not a pid: seen from another out folder (machine) it is
    `running` while its process lives and `interrupted` once it is killed."""
    fake_ollama.delay_s = 0.3
    proc = spawn(postgres_url, *run_args(fake_ollama.url, corpus, tmp_path / "a"))
    try:
        assert wait_for(lambda: len(fake_ollama.requests) >= 2, timeout=60)
        running = yanbao(postgres_url, "runs", "list", "--out", str(tmp_path / "b"))
        assert running.returncode == 0, running.stderr
        assert running.stdout.split()[1] == "running"
        run_id = running.stdout.split()[0]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def listed() -> str:
        return yanbao(postgres_url, "runs", "list", "--unfinished", "--out", str(tmp_path / "c")).stdout

    assert wait_for(lambda: "interrupted" in listed(), timeout=20)
    assert listed().split()[:2] == [run_id, "interrupted"]


def test_job_executions_are_live_while_their_process_holds_them(postgres_url: str) -> None:
    scheduler = RunStore(postgres_url)  # one machine's scheduler
    row = scheduler.start_job_run("daily", "2025-06-05T08:00:00+00:00")
    other = RunStore(postgres_url)  # another machine looking at the same store
    assert other.job_runs("daily")[0]["status"] == "running"
    assert other.last_job_run("daily")["id"] == row  # a live execution counts: no second start
    scheduler.close()  # the scheduler's process is gone without finishing the job
    assert other.job_runs("daily")[0]["status"] == "interrupted"
    assert other.last_job_run("daily") is None  # so the job is due again
    again = other.start_job_run("daily", "2025-06-05T08:10:00+00:00", "now")
    other.finish_job_run(again, "done", run_id="r1")
    assert [r["status"] for r in RunStore(postgres_url).job_runs("daily")] == ["done", "interrupted"]
