"""The store side of queued runs, without a broker: recording, the idempotent task body, the sweep that
finds a dead worker's run, and how `runs wait` decides a run has ended."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from clikit import FIXTURE_CORPUS, ROOT

from pipeline.config import Settings
from pipeline.run.queue import (
    OUTCOME_STEP,
    SPEC_STEP,
    execute,
    finished,
    open_store,
    record_queued,
    run_lock,
    sweep,
)


def _settings(out: Path) -> Settings:
    return Settings(llm="extractive", search="local", sources=FIXTURE_CORPUS, out=out, breadth=1, max_loops=1)


def _queued(out: Path, topic: str = "人工智能发展趋势") -> str:
    return record_queued(open_store(out), _settings(out), topic, "2026-01-05")


def test_a_queued_run_holds_everything_a_worker_needs(tmp_path):
    out = tmp_path / "out"
    run_id = _queued(out)
    store = open_store(out)
    row = store.get_run(run_id)
    assert row["status"] == "queued" and row["pid"] is None and row["day"] == "2026-01-05"
    assert "broker" not in json.loads(row["settings"])  # the broker address (maybe with a password) is not kept
    assert store.load_step(run_id, SPEC_STEP) == {
        "queue": "yanbao", "out": str(out.resolve()), "topics": None, "overwrite": False, "job_run": None,
    }
    assert finished(store, out, run_id) is None


def test_execute_writes_the_report_once_and_is_a_no_op_after(tmp_path):
    out = tmp_path / "out"
    run_id = _queued(out)
    assert execute(run_id, out) == 0
    store = open_store(out)
    row = store.get_run(run_id)
    assert row["status"] == "done" and Path(row["report_path"]).is_file()
    assert store.load_step(run_id, OUTCOME_STEP)["exit_code"] == 0
    end = finished(store, out, run_id)
    assert end is not None and end.exit_code == 0 and end.report_path == row["report_path"]
    calls = len(store.calls(run_id))
    assert execute(run_id, out) is None  # delivered again: nothing to do
    assert len(store.calls(run_id)) == calls
    assert execute("no-such-run", out) is None


def test_a_run_held_by_a_live_worker_is_left_alone(tmp_path):
    out = tmp_path / "out"
    run_id = _queued(out)
    store = open_store(out)
    with run_lock(out, run_id) as held:
        assert held
        store.set_run_status(run_id, "running", only_from=("queued",), pid=12345)  # a worker works on it
        started = time.monotonic()
        assert execute(run_id, out) is None  # a duplicate delivery: nothing to do, at once
        assert time.monotonic() - started < 5
        assert store.get_run(run_id)["status"] == "running" and not store.calls(run_id)


def test_a_task_waits_for_a_run_being_handed_over_rather_than_dropping_it(tmp_path):
    """A sweep (or --resume --queue) holds the lock of a run it has just set back to queued; the task
    that names the run may arrive in that moment: it must wait, not drop the only message."""
    out = tmp_path / "out"
    run_id = _queued(out)
    result: list[int | None] = []
    with run_lock(out, run_id) as held:
        assert held
        task = threading.Thread(target=lambda: result.append(execute(run_id, out)))
        task.start()
        time.sleep(0.5)
        assert task.is_alive() and not result  # waiting for the lock
    task.join(timeout=120)
    assert result == [0] and open_store(out).get_run(run_id)["status"] == "done"


def test_sweep_requeues_a_running_run_whose_worker_died_and_only_that(tmp_path):
    out = tmp_path / "out"
    store = open_store(out)
    dead, live, waiting = _queued(out), _queued(out), _queued(out)
    store.set_run_status(dead, "running", only_from=("queued",))
    store.set_run_status(live, "running", only_from=("queued",))
    published: list[tuple[str, Path, str]] = []
    with run_lock(out, live) as held:  # its worker is alive
        assert held
        assert sweep(out, lambda *a: published.append(a)) == [dead]
    assert published == [(dead, out, "yanbao")]
    assert [store.get_run(r)["status"] for r in (dead, live, waiting)] == ["queued", "running", "queued"]
    assert sweep(out, lambda *a: published.append(a)) == [live]  # now its lock is free too


def test_a_worker_killed_while_holding_a_run_frees_it(tmp_path):
    """The lock is an flock: the kernel drops it with the process, which is how a dead worker shows."""
    out = tmp_path / "out"
    run_id = _queued(out)
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
        "from pipeline.run.queue import run_lock\n"
        "with run_lock(Path(sys.argv[2]), sys.argv[3]) as held:\n"
        "    print(held, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(out), run_id], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "True"
        with run_lock(out, run_id) as held:
            assert not held
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with run_lock(out, run_id) as held:
            if held:
                break
    assert held


def test_a_failing_run_is_marked_failed_with_its_one_line(tmp_path):
    out = tmp_path / "out"
    settings = _settings(out).model_copy(update={"sources": tmp_path / "missing"})
    run_id = record_queued(open_store(out), settings, "人工智能发展趋势", "2026-01-05")
    assert execute(run_id, out) == 2
    store = open_store(out)
    end = finished(store, out, run_id)
    assert end.status == "failed" and end.exit_code == 2 and "sources folder not found" in end.message
    assert store.get_run(run_id)["status"] == "failed"
    assert execute(run_id, out) is None  # a failed run is not retried by a redelivery


def test_the_embedded_path_does_not_import_celery(tmp_path):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import pipeline.cli.app\n"
        "from pathlib import Path\n"
        "from pipeline.config import Settings\n"
        "from pipeline.run.runner import run_report\n"
        "s = Settings(llm='extractive', search='local', sources=Path(sys.argv[2]), out=Path(sys.argv[3]),"
        " breadth=1, max_loops=1, quiet=True)\n"
        "run_report(s, '人工智能发展趋势', progress=lambda m: None, warn=lambda m: None)\n"
        "print(sorted(m for m in ('celery', 'kombu', 'redis') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT), str(FIXTURE_CORPUS), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
