"""The run store: runs, saved stage outputs, every LLM/search/fetch call, and the reply cache.

One file (`outputs/yanbao.db` by default) answers "what did this run send, what did it cost, what
failed", and makes reruns cheap: LLM replies are cached by model + options + messages + schema, search
results by engine + query + day. A crashed run resumes by replaying what the cache already holds.

The same store can be a PostgreSQL database shared by several machines (`store = "postgresql://…"`):
the same statements and migrations run through `pipeline.run.db.PgConnection`, and whether a `running`
run (or job execution) is still alive is told by the advisory lock its process holds
(`pipeline.run.locks.SessionLocks`) instead of its pid, which means nothing on another machine.

Engines and backends stay ignorant of all this: `RecordingLLM`, `RecordingSearch` and `RecordingFetcher`
wrap them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.llm.base import LLM, Completion, LLMError, T, Task, capabilities
from pipeline.models import JSONObject, SearchResult
from pipeline.run.db import Column, Param, PgConnection, StoreError, is_url
from pipeline.run.locks import SessionLocks, held
from pipeline.search.base import Fetcher, Search, SearchError

if TYPE_CHECKING:  # the fetcher's module loads httpx: only the runner, when it reads pages, imports it
    from pipeline.search.fetch import FetchResult

# A row of runs, calls or job_runs as a dict (column → value).
RecordRow = dict[str, Column]
# What the runner is told after each LLM call: step, outcome, prompt and completion tokens, seconds.
CallListener = Callable[[str, str, int, int, float], None]

MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        kind TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL,            -- running | done | failed
        started_at TEXT NOT NULL,
        finished_at TEXT,
        report_path TEXT,
        error TEXT
    );
    CREATE TABLE steps (
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        output TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        kind TEXT NOT NULL,              -- llm | search | fetch
        backend TEXT NOT NULL,
        key TEXT NOT NULL,               -- prompt/query hash
        outcome TEXT NOT NULL,           -- ok | cached | repaired | degraded | error
        requests INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        results INTEGER NOT NULL DEFAULT 0,
        seconds REAL NOT NULL DEFAULT 0,
        detail TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX calls_run ON calls (run_id, kind);
    CREATE TABLE cache (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    );
    """,
    # 2: what a resume needs: the full settings, the day the run started (search cache scope), the pid.
    """
    ALTER TABLE runs ADD COLUMN settings TEXT;
    ALTER TABLE runs ADD COLUMN day TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    """,
    # 3: scheduled jobs (pipeline/run/schedule.py): one row per job execution, its outcome and its report.
    """
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY,
        job TEXT NOT NULL,
        started_at TEXT NOT NULL,        -- scheduler clock, UTC ISO 8601
        finished_at TEXT,
        status TEXT NOT NULL,            -- running | done | failed
        run_id TEXT,                     -- runs.id (several topics: comma separated)
        report_path TEXT,                -- several topics: one path per line
        error TEXT,
        trigger TEXT NOT NULL DEFAULT 'due',  -- due | now
        pid INTEGER
    );
    CREATE INDEX job_runs_job ON job_runs (job, started_at);
    """,
    # 4: the file stem a run writes (`<stem>.md`, `.html`, `.run.json`): a resume writes the same files,
    # even when a same-day rerun has taken `<day>-<slug>` and this run is `<day>-<slug>-2`.
    """
    ALTER TABLE runs ADD COLUMN stem TEXT;
    """,
    # 5: prompt tokens the server evaluated, beside the prompt tokens sent (`prompt_tokens`): fewer when it
    # reused a cached prefix of the prompt. NULL when the engine could not tell (then count it as sent).
    """
    ALTER TABLE calls ADD COLUMN prompt_eval_tokens INTEGER;
    """,
    # 6: which server answered each LLM call (several Ollama hosts: pipeline/llm/pool.py).
    """
    ALTER TABLE calls ADD COLUMN host TEXT;
    """,
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def digest(obj: object) -> str:
    """Stable hash of a JSON-able object (sorted keys, no whitespace, Unicode kept)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _set_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch a connection to WAL. SQLite answers "database is locked" at once, without waiting on
    the busy timeout, when another connection is switching a new file at the same moment (the
    scheduler's job threads all open the run store together): retry for up to ~5 s."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


class RunStore:
    """Thread-safe access to the run store: one connection per thread; on SQLite, WAL and a busy timeout.

    `path` is the SQLite file, or a `postgresql://` URL for a store shared by several machines."""

    def __init__(self, path: str | Path) -> None:
        self.shared = is_url(path)
        self.url = str(path) if self.shared else None
        self.path = None if self.shared else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # SQLite takes one writer at a time; on PostgreSQL each thread has its own session and the server
        # orders the writes (serializing them here would only serialize their commits' flushes)
        self._write_lock: AbstractContextManager[object] = nullcontext() if self.shared else threading.Lock()
        self._session_locks: SessionLocks | None = None
        self._migrate()

    def _conn(self) -> sqlite3.Connection | PgConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.url is not None:
                conn = PgConnection(self.url, "runs")
            else:
                assert self.path is not None  # not shared: a file
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout=30000")
                _set_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    # -- liveness on a shared store: a lock per running run / job execution ------------------------
    def _locks(self) -> SessionLocks:
        if self._session_locks is None:
            self._session_locks = SessionLocks(str(self.url))
        return self._session_locks

    def _mark_alive(self, rows: list[RecordRow], prefix: str, key: str) -> list[RecordRow]:
        """Rows still `running` whose process is gone become `interrupted`: by pid on this machine
        (SQLite), by the run's advisory lock on a shared store (any machine)."""
        running = [r for r in rows if r["status"] == "running"]
        if not running:
            return rows
        conn = self._conn()
        if isinstance(conn, PgConnection):  # a shared store
            live = held(conn, [f"{prefix}:{r[key]}" for r in running])
            for r in running:
                if f"{prefix}:{r[key]}" not in live:
                    r["status"] = "interrupted"
        else:
            for r in running:
                if not _alive(r.get("pid")):
                    r["status"] = "interrupted"
        return rows

    def _migrate(self) -> None:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for i, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                    for stmt in sql.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                    conn.execute(f"PRAGMA user_version = {i}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _write(self, sql: str, params: tuple[Param, ...] = ()) -> None:
        with self._write_lock:
            self._conn().execute(sql, params)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._session_locks is not None:
            self._session_locks.close()

    # -- runs ------------------------------------------------------------------------------------
    def start_run(
        self, topic: str, kind: str, config: Mapping[str, object], run_id: str | None = None,
        settings: Mapping[str, object] | None = None,
        day: str | None = None, stem: str | None = None,
    ) -> str:
        """Create a run, or mark an existing one (a resume) as running again under this process.
        `stem` names the run's files; a resume keeps the recorded one unless it gives another."""
        run_id = run_id or datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        if self.shared and not self._locks().hold(f"run:{run_id}"):
            raise StoreError(f"run {run_id} is running in another process; see yanbao runs list")
        self._write(
            "INSERT INTO runs (id, topic, kind, config, status, started_at, settings, day, pid, stem)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET status='running', error=NULL, pid=excluded.pid,"
            " stem=COALESCE(excluded.stem, runs.stem)",
            (
                run_id, topic, kind, json.dumps(config, ensure_ascii=False, default=str), _now(),
                json.dumps(settings or {}, ensure_ascii=False, default=str), day or date.today().isoformat(),
                os.getpid(), stem,
            ),
        )
        return run_id

    # -- queued runs (pipeline/run/queue.py): recorded here first, executed by a worker later ------------
    def queue_run(
        self, topic: str, kind: str, settings: Mapping[str, object], day: str, stem: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a run that a worker will execute: status `queued`, no process yet. The worker finds
        everything it needs here (topic, settings, day, file stem), so the task message is only its id."""
        run_id = run_id or datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._write(
            "INSERT INTO runs (id, topic, kind, config, status, started_at, settings, day, pid, stem)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, NULL, ?)",
            (run_id, topic, kind, "{}", _now(), json.dumps(settings, ensure_ascii=False, default=str), day, stem),
        )
        return run_id

    def set_run_status(
        self, run_id: str, status: str, only_from: tuple[str, ...], pid: int | None = None,
    ) -> bool:
        """Move a run to `status` (and `pid`: the process that now works on it, or none) if it is in
        one of `only_from`. Returns whether the run moved (a compare-and-set, so two processes never
        both claim or both re-queue one run)."""
        marks = ", ".join("?" * len(only_from))
        with self._write_lock:
            cur = self._conn().execute(
                f"UPDATE runs SET status=?, pid=?, error=NULL WHERE id=? AND status IN ({marks})",
                (status, pid, run_id, *only_from),
            )
            return cur.rowcount == 1

    def runs_with_step(self, step: str, status: str) -> list[str]:
        """Ids of runs in `status` that saved `step` (queued runs carry their task in a step)."""
        rows = self._conn().execute(
            "SELECT runs.id FROM runs JOIN steps ON steps.run_id = runs.id AND steps.step = ?"
            " WHERE runs.status = ? ORDER BY runs.started_at",
            (step, status),
        )
        return [r[0] for r in rows]

    def finish_run(self, run_id: str, status: str, report_path: str | None = None, error: str | None = None) -> None:
        self._write(
            "UPDATE runs SET status=?, finished_at=?, report_path=?, error=? WHERE id=?",
            (status, _now(), report_path, error, run_id),
        )
        if self.shared:
            self._locks().release(f"run:{run_id}")

    def get_run(self, run_id: str) -> RecordRow | None:
        row = self._conn().execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return dict(row) if row else None

    def list_runs(self, limit: int = 20, unfinished: bool = False) -> list[RecordRow]:
        """Newest first. A run still marked running whose process is gone is reported as `interrupted`."""
        where = "WHERE status != 'done'" if unfinished else ""
        rows = [dict(r) for r in self._conn().execute(f"SELECT * FROM runs {where} ORDER BY started_at DESC LIMIT ?", (limit,))]
        return self._mark_alive(rows, "run", "id")

    # -- saved stage outputs ---------------------------------------------------------------------
    def save_step(self, run_id: str, step: str, output: object) -> None:
        self._write(
            "INSERT OR REPLACE INTO steps (run_id, step, output, saved_at) VALUES (?, ?, ?, ?)",
            (run_id, step, json.dumps(output, ensure_ascii=False, default=str), _now()),
        )

    def load_step(self, run_id: str, step: str) -> Any:  # the JSON a stage saved: its shape is the stage's
        row = self._conn().execute("SELECT output FROM steps WHERE run_id=? AND step=?", (run_id, step)).fetchone()
        return json.loads(row[0]) if row else None

    # -- calls -----------------------------------------------------------------------------------
    def record_call(self, run_id: str, step: str, kind: str, backend: str, key: str, outcome: str, **fields: Param) -> None:
        cols = ["run_id", "step", "kind", "backend", "key", "outcome", "created_at"]
        vals: list[Param] = [run_id, step, kind, backend, key, outcome, _now()]
        for name in (
            "requests", "prompt_tokens", "prompt_eval_tokens", "completion_tokens", "results", "seconds", "detail", "host",
        ):
            if name in fields and fields[name] is not None:
                cols.append(name)
                vals.append(fields[name])
        self._write(f"INSERT INTO calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", tuple(vals))

    def last_call_id(self) -> int:
        return int(self._conn().execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])

    def calls(self, run_id: str, kind: str | None = None, after_id: int = 0) -> list[RecordRow]:
        """Calls of a run; `after_id` keeps only those made after that call id (one attempt of a resumed run)."""
        sql = "SELECT * FROM calls WHERE run_id=? AND id > ?"
        params: list[Param] = [run_id, after_id]
        if kind:
            sql += " AND kind=?"
            params.append(kind)
        return [dict(r) for r in self._conn().execute(sql + " ORDER BY id", params)]

    # -- cache (also the `Cache` protocol the fetcher uses) -------------------------------------
    def get(self, namespace: str, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM cache WHERE namespace=? AND key=?", (namespace, key)).fetchone()
        return row[0] if row else None

    def put(self, namespace: str, key: str, value: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO cache (namespace, key, value, created_at) VALUES (?, ?, ?, ?)",
            (namespace, key, value, _now()),
        )

    # -- scheduled jobs (pipeline/run/schedule.py) ---------------------------------------------------
    def start_job_run(self, job: str, started_at: str, trigger: str = "due", status: str = "running") -> int:
        """Record that `job` started (at the scheduler's clock); returns the row id for `finish_job_run`.
        `queued`: its reports were handed to workers (`schedule run --queue`); it stays queued, never
        `interrupted`, until the last of them finishes (pipeline/run/queue.py)."""
        with self._write_lock:
            cur = self._conn().execute(
                "INSERT INTO job_runs (job, started_at, status, trigger, pid) VALUES (?, ?, ?, ?, ?)",
                (job, started_at, status, trigger, os.getpid()),
            )
            assert cur.lastrowid is not None  # an INSERT into a table with an integer key always sets it
            row_id = cur.lastrowid
        if self.shared:
            self._locks().hold(f"job_run:{row_id}")  # a new row: no other process can hold it
        return row_id

    def set_job_run_ids(self, row_id: int, run_ids: list[str]) -> None:
        self._write("UPDATE job_runs SET run_id=? WHERE id=?", (",".join(run_ids), row_id))

    def get_job_run(self, row_id: int) -> RecordRow | None:
        row = self._conn().execute("SELECT * FROM job_runs WHERE id=?", (row_id,)).fetchone()
        return dict(row) if row else None

    def finish_job_run(
        self, row_id: int, status: str, finished_at: str | None = None, run_id: str | None = None,
        report_path: str | None = None, error: str | None = None,
    ) -> None:
        self._write(
            "UPDATE job_runs SET status=?, finished_at=?, run_id=?, report_path=?, error=? WHERE id=?",
            (status, finished_at or _now(), run_id, report_path, error, row_id),
        )
        if self.shared:
            self._locks().release(f"job_run:{row_id}")

    def job_runs(self, job: str | None = None, limit: int = 20) -> list[RecordRow]:
        """Newest first. A row still `running` whose process is gone is reported as `interrupted`."""
        sql = "SELECT * FROM job_runs"
        params: list[Param] = []
        if job is not None:
            sql += " WHERE job=?"
            params.append(job)
        rows = [dict(r) for r in self._conn().execute(sql + " ORDER BY started_at DESC, id DESC LIMIT ?", (*params, limit))]
        return self._mark_alive(rows, "job_run", "id")

    def last_job_run(self, job: str) -> RecordRow | None:
        """The newest execution of `job` that counts for scheduling: finished (done or failed) or still
        running in a live process. Interrupted executions (their process died) do not count, so the
        job is run again."""
        for r in self.job_runs(job, limit=50):
            if r["status"] != "interrupted":
                return r
        return None


#: Cache namespace marking replies that stopped at the token limit (same key as the reply in "llm").
CUT = "llm-cut"


class RecordingLLM:
    """Wraps an engine: answers from the cache when it can, and records every call in the run store.

    Engines that keep state across calls (the extractive engine remembers which sentences it used)
    set `cacheable = False`; their calls are recorded but never replayed. With `use_cache=False`
    (`--no-cache`) replies are not read from the cache but are still written, so that a crashed
    `--no-cache` run can be resumed.
    """

    def __init__(
        self, inner: LLM, store: RunStore, run_id: str, use_cache: bool = True, on_call: CallListener | None = None
    ) -> None:
        self.inner = inner
        self.on_call = on_call
        self.store = store
        self.run_id = run_id
        caps = capabilities(inner)  # declared again here: callers ask the wrapper what its engine can do
        self.cacheable = caps.cacheable
        self.generative = caps.generative
        self.sequential = caps.sequential
        self.passages = caps.passages
        self.use_cache = use_cache and self.cacheable
        self.provider = inner.provider
        self.model = inner.model

    def cache_identity(self) -> JSONObject:
        return self.inner.cache_identity()

    def key(self, task: Task[T]) -> str:
        """Model + options + messages + schema + kind. A task without messages is answered from its
        structured context, so then the context is keyed too: it must never get another task's answer.
        (With messages it would only repeat the prompt's sources, at ~3 ms of hashing per call.)"""
        return digest(
            {
                "id": self.inner.cache_identity(),
                "kind": task.kind,
                "messages": task.messages,
                "schema": task.schema.model_json_schema(),
                "context": None if task.messages else task.context.model_dump(),
            }
        )

    def complete(self, task: Task[T]) -> Completion[T]:
        key = self.key(task)
        if self.use_cache:
            hit = self.store.get("llm", key)
            if hit is not None:
                value = task.schema.model_validate_json(hit)
                self.store.record_call(self.run_id, task.step, "llm", self.provider, key, "cached")
                self._announce(task.step, "cached", 0, 0, 0.0)
                # A reply cut at the token limit is trimmed by the caller: a replay must be trimmed alike.
                return Completion(value=value, cached=True, truncated=self.store.get(CUT, key) is not None)
        started = time.perf_counter()
        try:
            result = self.inner.complete(task)
        except LLMError as exc:
            self.store.record_call(
                self.run_id, task.step, "llm", self.provider, key, "error",
                seconds=time.perf_counter() - started, detail=str(exc),
            )
            raise
        outcome = "degraded" if result.value is None else ("repaired" if result.repaired else "ok")
        detail = "; ".join([*(result.notes or []), *([result.degraded] if result.degraded else [])]) or None
        self.store.record_call(
            self.run_id, task.step, "llm", self.provider, key, outcome,
            requests=result.requests, prompt_tokens=result.prompt_tokens, prompt_eval_tokens=result.prompt_eval_tokens,
            completion_tokens=result.completion_tokens, seconds=result.seconds or time.perf_counter() - started,
            detail=detail, host=result.host,
        )
        if self.cacheable and result.value is not None:
            if result.truncated:
                self.store.put(CUT, key, "length")
            self.store.put("llm", key, result.value.model_dump_json())
        self._announce(task.step, outcome, result.prompt_tokens, result.completion_tokens, result.seconds)
        return result

    def _announce(self, step: str, outcome: str, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        if self.on_call is not None:
            self.on_call(step, outcome, prompt_tokens, completion_tokens, seconds)


class RecordingSearch:
    """Wraps a search backend: a day-scoped cache of results, and a record of every call."""

    def __init__(
        self, inner: Search, store: RunStore, run_id: str, use_cache: bool = True, day: str | None = None
    ) -> None:
        self.inner = inner
        self.store = store
        self.run_id = run_id
        self.use_cache = use_cache
        # Results are cached per day; a resumed run keeps the day it started on, so it sees the same hits.
        self.day = day or date.today().isoformat()

    @property
    def engine(self) -> str:
        return self.inner.engine

    def cache_identity(self) -> JSONObject:
        return self.inner.cache_identity()

    def search(self, query: str, max_results: int = 5, step: str = "search") -> list[SearchResult]:
        key = digest({"id": self.inner.cache_identity(), "q": query, "n": max_results, "day": self.day})
        if self.use_cache:
            hit = self.store.get("search", key)
            if hit is not None:
                results = [SearchResult.model_validate(r) for r in json.loads(hit)]
                self.store.record_call(self.run_id, step, "search", self.engine, key, "cached", results=len(results))
                return results
        started = time.perf_counter()
        try:
            results = self.inner.search(query, max_results)
        except SearchError as exc:
            self.store.record_call(
                self.run_id, step, "search", self.engine, key, "error",
                requests=1, seconds=time.perf_counter() - started, detail=f"{exc.kind}: {exc}",
            )
            raise
        self.store.record_call(
            self.run_id, step, "search", self.engine, key, "ok",
            requests=1, results=len(results), seconds=time.perf_counter() - started, detail=query,
        )
        if results:
            self.store.put("search", key, json.dumps([r.model_dump() for r in results], ensure_ascii=False))
        return results


class RecordingFetcher:
    """Wraps a fetcher: every page read is a recorded call, outcome `ok`, `cached` (the fetcher keeps
    the pages it read in the run store's cache) or `error`, its detail the URL and the error as JSON
    (`fetch_errors` reads them back for run.json)."""

    def __init__(self, inner: Fetcher, store: RunStore, run_id: str) -> None:
        self.inner = inner
        self.store = store
        self.run_id = run_id

    def fetch(self, url: str, step: str = "fetch") -> FetchResult:
        started = time.perf_counter()
        page = self.inner.fetch(url, step=step)
        self._record(step, url, page, time.perf_counter() - started)
        return page

    def fetch_many(self, urls: list[str], step: str = "fetch") -> list[FetchResult]:
        started = time.perf_counter()
        pages = self.inner.fetch_many(urls, step=step)
        each = (time.perf_counter() - started) / max(1, len(urls))
        for url, page in zip(urls, pages, strict=True):
            self._record(step, url, page, each)
        return pages

    def _record(self, step: str, url: str, page: FetchResult, seconds: float) -> None:
        outcome = "error" if not page.ok else ("cached" if page.cached else "ok")
        detail = {"url": url, **({"error": page.error or "no main text"} if not page.ok else {})}
        self.store.record_call(
            self.run_id, step, "fetch", "httpx", digest(url), outcome,
            requests=0 if page.cached else 1, results=1 if page.ok else 0, seconds=seconds,
            detail=json.dumps(detail, ensure_ascii=False),
        )


def fetch_errors(calls: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The pages that could not be read among `calls` (a run's recorded calls), in the order they were
    read: `{step, url, error}` (run.json's `search.fetch_errors`)."""
    errors: list[dict[str, str]] = []
    for c in calls:
        if c["kind"] == "fetch" and c["outcome"] == "error":
            detail = json.loads(c["detail"] or "{}")
            errors.append({"step": c["step"], "url": detail.get("url", ""), "error": detail.get("error", "")})
    return errors
