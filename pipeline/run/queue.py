"""Reports run by workers: what is recorded when a report is queued, what a worker does with it, and
how a report whose worker died is found and handed to another one.

The queue itself is Celery's (pipeline/run/worker.py); this module holds the yanbao side and never
imports Celery, so the embedded path (threads, one process) does not load it.

* **Queueing** records the run in the run store first (`status = queued`, its settings, topic, day and
  file stem, plus a `queue.task` step: its Celery queue, batch topics, `overwrite`, the scheduled job
  execution it belongs to), then publishes a task whose only argument is the run id and the `out`
  folder. Everything a worker needs is in the store, so a task can be delivered twice, or to another
  machine, and mean the same thing.
* **A worker** takes the run's lock (`<out>/.locks/run-<id>.lock`, flock; with a shared store the
  PostgreSQL advisory lock `queued:<id>`: either dies with the process),
  then reads the run: done or failed → nothing to do (idempotent); queued or running → it runs it as
  `yanbao run --resume` would: every LLM reply and search result already in the store is replayed,
  only the missing requests are sent, the report goes to the run's own files (written atomically).
  The outcome (exit code and its one line) is saved as the `queue.outcome` step for `runs wait`.
* **A dead worker** leaves its run `running` with its lock free. Every worker sweeps the stores it
  knows every `worker_sweep_s` seconds: such a run is set back to `queued` and published again, so
  another worker resumes it within seconds. The broker's own redelivery of the unacknowledged task
  (after `broker_visibility_timeout`) is the fallback for a store no live worker knows; by then the
  run is done or locked, and the redelivered task is a no-op.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from pipeline.config import Settings
from pipeline.run.engines import SEARCH_ENGINES, EngineSetupError
from pipeline.run.locks import Exclusive
from pipeline.run.store import RecordRow, RunStore

LOCK_WAIT_S = 10.0  # how long a task waits for a run that is being handed over (see _hold)
SPEC_STEP = "queue.task"


class RunSpec(TypedDict, total=False):
    """What a queued run needs beyond its settings, saved as the run's `queue.task` step: the broker
    queue, the out folder, a digest's topics, whether to overwrite, the scheduled job run it is part of."""

    queue: str
    out: str
    topics: list[str] | None
    overwrite: bool
    job_run: int | None
OUTCOME_STEP = "queue.outcome"
FINAL = ("done", "failed")

log = logging.getLogger("yanbao.worker")

# publish(run_id, out folder, Celery queue): hands one run to the broker (pipeline/run/worker.py).
Publish = Callable[[str, Path, str], None]


class QueueError(Exception):
    """The report could not be queued (the broker cannot be reached, Celery is not installed). One line."""


_stores: dict[str, RunStore] = {}
_stores_lock = threading.Lock()


def open_store(out: Path, store: str = "") -> RunStore:
    """The run store: the shared database `store` (a postgresql:// URL), else `<out>/yanbao.db`. One
    object per store and process (it is thread-safe), so a worker's sweeps do not reconnect each time."""
    target = store or str(Path(out).resolve() / "yanbao.db")
    with _stores_lock:
        if target not in _stores:
            _stores[target] = RunStore(target)
        return _stores[target]


@contextmanager
def run_lock(out: Path, run_id: str, store: str = "") -> Iterator[bool]:
    """Try to hold run `run_id` for this thread (non-blocking); yields whether it is held. Held by the
    worker executing the run, for the whole run: a run that is `running` while its lock is free has
    lost its worker. A flock (which belongs to an open file, so two threads of one process exclude
    each other too), or with a shared store an advisory lock on a session of its own; both die with
    the process. (Not the store's own `run:<id>` lock, which `start_run` takes.)"""
    with Exclusive(store or None, f"queued:{run_id}", Path(out) / ".locks" / f"run-{run_id}.lock") as lock:
        yield lock.acquired


# -- queueing ----------------------------------------------------------------------------------------


def check_queueable(settings: Settings, topic: str, topics: list[str] | None = None) -> str:
    """The checks `yanbao run` makes before any work, made before queueing, so bad input is a one-line
    error (exit 2) now rather than a failed run later. Returns the cleaned topic."""
    from pipeline.run.runner import BadInput, check_output_folder, check_topic_count, kind_of, validate_topic

    topic = validate_topic(topic)
    check_topic_count(kind_of(settings.kind), topics)
    check_output_folder(settings.out)
    try:
        needs_sources = SEARCH_ENGINES.get(settings.search).needs_sources
    except EngineSetupError as exc:  # a plugin that cannot be loaded
        raise BadInput(str(exc)) from None
    if needs_sources and not settings.sources.is_dir():
        raise BadInput(f"sources folder not found: {settings.sources}")
    return topic


def record_queued(
    store: RunStore, settings: Settings, topic: str, day: str, *, topics: list[str] | None = None,
    stem: str | None = None, overwrite: bool = False, job_run: int | None = None,
) -> str:
    """Record one queued run (nothing is published yet); returns its id."""
    from pipeline.run.runner import recorded_settings

    run_id = store.queue_run(topic, settings.kind, recorded_settings(settings), day, stem=stem)
    spec: RunSpec = {"queue": settings.broker_queue, "out": str(settings.out.resolve()), "topics": topics or None,
                     "overwrite": overwrite, "job_run": job_run}
    store.save_step(run_id, SPEC_STEP, spec)
    if topics:
        from pipeline.kinds.support import TOPICS_STEP

        store.save_step(run_id, TOPICS_STEP, topics)
    return run_id


def requeue(store: RunStore, out: Path, run_id: str, store_url: str = "") -> str:
    """`yanbao run --resume RUN_ID --queue`: hand an unfinished run to the workers. Returns its queue."""
    from pipeline.run.runner import BadInput

    row = store.get_run(run_id)
    if row is None:
        raise BadInput(f"no run {run_id} in {store.path}; see yanbao runs list")
    if row["status"] == "done":
        raise BadInput(f"run {run_id} already finished: {row['report_path']}")
    with run_lock(out, run_id, store_url) as held:
        if not held or (row["status"] == "running" and _alive_here(row, store)):
            raise BadInput(f"run {run_id} is running right now; follow it with: yanbao runs wait {run_id}")
        spec: RunSpec = store.load_step(run_id, SPEC_STEP) or RunSpec()
        settings = json.loads(row["settings"] or "{}")
        spec.setdefault("queue", settings.get("broker_queue") or "yanbao")
        spec.setdefault("out", str(Path(out).resolve()))
        spec.setdefault("overwrite", False)
        store.save_step(run_id, SPEC_STEP, spec)
        store.save_step(run_id, OUTCOME_STEP, None)  # an earlier attempt's outcome is not this one's
        store.set_run_status(run_id, "queued", only_from=("queued", "running", "failed"))
    return str(spec["queue"])


def _alive_here(row: RecordRow, store: RunStore) -> bool:
    """Whether a run marked running is still worked on (pid here, the store's run lock when shared)."""
    listed = [r for r in store.list_runs(limit=1000, unfinished=True) if r["id"] == row["id"]]
    return bool(listed) and listed[0]["status"] == "running"


# -- executing ---------------------------------------------------------------------------------------


def execute(run_id: str, out: Path, store_url: str = "", warn: Callable[[str], None] | None = None) -> int | None:
    """Run (or resume) queued run `run_id`, writing into `out`, of the run store there (or of the shared
    store `store_url`); the worker's task body. Returns the run's exit code (0 done, 1 failed, 2 bad
    input, 3 nothing relevant), or None when there was nothing to do: the run is unknown, already
    finished, or held by another worker right now."""
    out = Path(out)
    store = open_store(out, store_url)
    with _hold(store, out, run_id, store_url) as held:
        if not held:
            log.info("run %s: running in another worker; nothing to do", run_id)
            return None
        row = store.get_run(run_id)
        if row is None:
            log.warning("run %s: not in %s; nothing to do", run_id, store.path)
            return None
        if row["status"] in FINAL:
            log.info("run %s: already %s", run_id, row["status"])
            return None
        spec: RunSpec = store.load_step(run_id, SPEC_STEP) or RunSpec()
        fresh = not store.calls(run_id)  # nothing sent yet: write it as a new run, not a resume
        if not store.set_run_status(run_id, "running", only_from=("queued", "running"), pid=os.getpid()):
            return None
        store.save_step(run_id, OUTCOME_STEP, None)
        log.info("run %s: %s %s (%s)", run_id, "starting" if fresh else "resuming", row["topic"], out)
        code, message = _run(
            store, row, spec, out, store_url, fresh, warn or (lambda m: log.warning("run %s: %s", run_id, m)),
        )
        store.save_step(run_id, OUTCOME_STEP, {"exit_code": code, "message": message, "worker": worker_name()})
        log.info("run %s: exit %d%s", run_id, code, f": {message}" if message else "")
        job_run = spec.get("job_run")
        if job_run:
            finish_job_if_complete(store, int(job_run))
        return code


@contextmanager
def _hold(store: RunStore, out: Path, run_id: str, store_url: str, wait_s: float = LOCK_WAIT_S) -> Iterator[bool]:
    """The run's lock for a task. Held by another process while the run is `running`: its worker is
    alive, the task has nothing to do. Held while the run is `queued`: a sweep or a `--resume --queue`
    is handing it over this very moment (for milliseconds), so the task waits for it rather than
    dropping the only message that names the run."""
    deadline = time.monotonic() + wait_s
    while True:
        with run_lock(out, run_id, store_url) as held:
            if held:
                yield True
                return
        row = store.get_run(run_id)
        if row is None or row["status"] != "queued" or time.monotonic() > deadline:
            yield False
            return
        time.sleep(0.05)


def _run(
    store: RunStore, row: RecordRow, spec: RunSpec, out: Path, store_url: str, fresh: bool, warn: Callable[[str], None],
) -> tuple[int, str | None]:
    """run_report on the recorded run; every way it ends becomes (exit code, one line). A run that ends
    without being marked done or failed (a bug, bad input before it started) is marked failed here, so
    it is never resumed in a loop."""
    from pipeline.run.runner import BadInput, RunFailed, run_report

    run_id = row["id"]
    code, message = 1, None
    try:
        recorded = json.loads(row["settings"] or "{}")
        # A resume must read the replies it has (as `yanbao run --resume` does); a first attempt keeps
        # the queued run's own cache setting.
        cache = True if not fresh else recorded.get("cache", True)
        settings = Settings(**{**recorded, "out": str(out), "store": store_url, "quiet": True, "cache": cache})
        outcome = run_report(
            settings, row["topic"], warn=warn, resume=run_id, day=row["day"], stem=row.get("stem"),
            topics=spec.get("topics"), overwrite=bool(spec.get("overwrite")), fresh=fresh,
        )
        code = 3 if outcome.empty else 0
        if outcome.empty:
            verdict = (outcome.manifest.get("coverage") or {}).get("verdict")
            message = f"nothing relevant to the topic was found{': ' + verdict if verdict else ''}; the report says so: {outcome.report_path}"
    except BadInput as exc:
        code, message = 2, str(exc)
    except RunFailed as exc:
        code, message = 1, str(exc)
    except Exception as exc:  # a bug or an I/O error: this run fails, the worker goes on
        log.exception("run %s failed", run_id)
        code, message = 1, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    if code in (1, 2):
        now = store.get_run(run_id) or {}
        if now.get("status") not in FINAL:
            store.finish_run(run_id, "failed", error=message)
    return code, message


def finish_job_if_complete(store: RunStore, job_run: int) -> None:
    """A queued job execution ends when the last of its runs does: done when all are done, else
    failed with their errors. Every finishing worker checks after its own run is final, so the last
    one to finish always sees all of them final."""
    row = store.get_job_run(job_run)
    if row is None or row["status"] != "queued" or not row.get("run_id"):
        return
    runs = [store.get_run(r) or {"id": r, "status": "failed", "error": "missing"} for r in row["run_id"].split(",")]
    if any(r["status"] not in FINAL for r in runs):
        return
    errors = [r.get("error") or "failed" for r in runs if r["status"] != "done"]
    if len(runs) > 1:
        errors = [f"{r['topic']}: {r.get('error') or 'failed'}" for r in runs if r["status"] != "done"]
    store.finish_job_run(
        job_run, "failed" if errors else "done", run_id=row["run_id"],
        report_path="\n".join(r["report_path"] for r in runs if r.get("report_path")) or None,
        error="; ".join(errors) or None,
    )


# -- a dead worker's runs ----------------------------------------------------------------------------


def sweep(out: Path, publish: Publish, store_url: str = "") -> list[str]:
    """Find the queued runs in `out`'s store (or the shared store: every folder's) that are `running`
    with their lock free (their worker died), set them back to `queued` and publish them again.
    Returns their ids."""
    if not store_url and not (Path(out) / "yanbao.db").is_file():
        return []
    store = open_store(out, store_url)
    requeued = []
    for run_id in store.runs_with_step(SPEC_STEP, "running"):
        spec: RunSpec = store.load_step(run_id, SPEC_STEP) or RunSpec()
        folder = Path(spec.get("out") or out)
        with run_lock(folder, run_id, store_url) as held:
            if not held:
                continue  # its worker is alive
            if not store.set_run_status(run_id, "queued", only_from=("running",)):
                continue  # it finished meanwhile
        # Published once the lock is let go, so the task (maybe on this very worker) can take it at once.
        try:
            publish(run_id, folder, str(spec.get("queue") or "yanbao"))
        except Exception:
            store.set_run_status(run_id, "running", only_from=("queued",))  # the next sweep retries
            raise
        requeued.append(run_id)
        log.warning("run %s: its worker died; queued again to resume", run_id)
    return requeued


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- following a run ---------------------------------------------------------------------------------


@dataclass
class RunEnd:
    status: str
    exit_code: int
    message: str | None
    report_path: str | None


def finished(store: RunStore, out: Path, run_id: str, store_url: str = "") -> RunEnd | None:
    """How run `run_id` ended, or None while it is still queued or running. A queued run has ended
    when its worker saved the outcome; one whose worker died between marking it final and saving the
    outcome (its lock free) ends with the code its status implies."""
    row = store.get_run(run_id)
    if row is None:
        from pipeline.run.runner import BadInput

        raise BadInput(f"no run {run_id} in {store.path}; see yanbao runs list")
    if row["status"] not in FINAL:
        return None
    outcome = store.load_step(run_id, OUTCOME_STEP)
    queued = store.load_step(run_id, SPEC_STEP) is not None
    if outcome is None and queued:
        folder = Path((store.load_step(run_id, SPEC_STEP) or {}).get("out") or out)
        with run_lock(folder, run_id, store_url) as held:
            if not held:
                return None  # the worker is saving its outcome
    if outcome is not None:
        code, message = int(outcome["exit_code"]), outcome.get("message")
    else:
        code, message = (0, None) if row["status"] == "done" else (1, row.get("error"))
    return RunEnd(row["status"], code, message or row.get("error"), row.get("report_path"))
