"""Scheduled jobs: `jobs.toml`, when each job is due, and running the due ones.

A job is a named, recurring report::

    [[job]]
    name = "ai-daily"                 # also the report's file name: <out>/ai-daily.md (.html, .run.json)
    kind = "research"
    topics = ["人工智能发展趋势"]
    cron = "0 8 * * *"                # 5 fields, the machine's local time
    out = "outputs/ai-daily"          # relative paths are relative to the jobs file
    formats = ["md", "html"]
    llm = "ollama"
    model = "qwen2.5:7b"
    search = "local"
    # any other setting of yanbao.toml: breadth, max_loops, sources, ollama_host, front_matter ...

An optional `[defaults]` table gives fields every job inherits. Settings resolve as: defaults of yanbao,
`yanbao.toml`, the environment, `[defaults]`, then the job's own fields.

Due rule (pure functions over a given `now`, so tests control the clock): a job is due when its latest
cron slot at or before `now` is later than the start of its last recorded execution. A job that missed
several slots is therefore run once, not once per slot. A job with no history is due when its cron had
a slot in the 24 hours before `now` (so adding a daily job runs it on the next scheduler pass, and a
weekly job waits for its day). Executions whose process died (interrupted) do not count; failed ones do
(they are retried at the next slot, not on every pass).

Each execution holds `<out>/.locks/job-<name>.lock` (flock, non-blocking; with a shared store, the
database lock `job:<name>` instead, so schedulers on several machines exclude each other): a second
scheduler skips the job and says so. Executions are recorded in the run store (`job_runs`, migration 3).
"""

from __future__ import annotations

import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from croniter import croniter
from pydantic import ValidationError

from pipeline.config import NOT_ECHOED, ConfigError, Settings, load_settings
from pipeline.run.engines import SEARCH_ENGINES, EngineSetupError
from pipeline.run.locks import Exclusive

if TYPE_CHECKING:
    from pipeline.run.store import RunStore

NEW_JOB_WINDOW = timedelta(hours=24)
JOB_FIELDS = ("name", "kind", "topics", "cron")  # besides every Settings field
PATH_FIELDS = ("out", "sources")
_NAME = re.compile(r"[^\W_][\w.-]{0,99}")


class JobsError(Exception):
    """The jobs file cannot be used (exit 2). One line naming the file, the job and the field."""


@dataclass
class Job:
    name: str
    kind: str
    topics: list[str]
    cron: str
    settings: Settings
    index: int = 0  # 1-based position in the jobs file

    @property
    def out(self) -> Path:
        return self.settings.out

    @property
    def lock_path(self) -> Path:
        return self.out / ".locks" / f"job-{self.name}.lock"

    def reports(self) -> list[tuple[str, list[str] | None, str]]:
        """(topic, batch topics or None, file stem) of each report the job writes. A batch kind
        (digest, commentary) writes all its topics into one report named after the job; research
        writes one report per topic: `<name>` for one topic, `<name>-<slug of topic>` for several."""
        from pipeline import kinds
        from pipeline.run.render import slugify

        if kinds.get(self.kind).batch:
            return [(self.topics[0], self.topics if len(self.topics) > 1 else None, self.name)]
        if len(self.topics) == 1:
            return [(self.topics[0], None, self.name)]
        return [(t, None, f"{self.name}-{slugify(t)}") for t in self.topics]


@dataclass
class JobResult:
    job: str
    status: str  # done | failed | skipped | queued (handed to workers: schedule run --queue)
    reports: list[Path] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    error: str | None = None
    note: str | None = None
    seconds: float = 0.0  # the whole execution, as the scheduler saw it
    run_seconds: float = 0.0  # inside run_report


# -- due logic (pure) ------------------------------------------------------------------------------


def check_cron(expr: object) -> str:
    """The expression, normalized, if it is a valid 5-field cron expression; else ValueError."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("must be a 5-field cron expression such as \"0 8 * * *\"")
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"'{expr}' has {len(fields)} fields; a cron expression has 5 (minute hour day month weekday)")
    norm = " ".join(fields)
    if not croniter.is_valid(norm):
        raise ValueError(f"'{expr}' is not a valid cron expression")
    return norm


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.astimezone()


def latest_slot(cron: str, now: datetime) -> datetime:
    """The latest time at or before `now` that `cron` fires."""
    now = _aware(now)
    base = now.replace(microsecond=0) + timedelta(seconds=1)  # slots fall on whole minutes
    return croniter(cron, base).get_prev(datetime)


def next_slot(cron: str, now: datetime) -> datetime:
    """The first time strictly after `now` that `cron` fires."""
    return croniter(cron, _aware(now)).get_next(datetime)


def is_due(cron: str, now: datetime, last_started: datetime | None, window: timedelta = NEW_JOB_WINDOW) -> bool:
    """See the module docstring: once per missed stretch of slots; new jobs look back `window`."""
    slot = latest_slot(cron, now)
    if last_started is None:
        return slot > _aware(now) - window
    return slot > _aware(last_started)


def iso(dt: datetime) -> str:
    return _aware(dt).astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


# -- the jobs file ---------------------------------------------------------------------------------


def _where(path: Path, job: str | None, index: int) -> str:
    return f"{path}: job '{job}'" if job else f"{path}: job #{index}"


def load_jobs(
    path: Path, config: Path | None = None, env: dict[str, str] | None = None, check_writable: bool = True,
) -> list[Job]:
    """Read and validate every job. Raises JobsError (one line: file, job, field) on the first problem."""
    from pipeline import kinds
    from pipeline.run.runner import BadInput, check_output_folder, validate_topic

    path = Path(path)
    if not path.is_file():
        raise JobsError(f"jobs file not found: {path} (give one with --jobs FILE)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise JobsError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise JobsError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise JobsError(f"{path}: cannot read: {exc.strerror or exc}") from None

    for key in data:
        if key not in ("job", "defaults"):
            raise JobsError(f"{path}: unknown table '{key}'; jobs are [[job]] tables (and an optional [defaults])")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise JobsError(f"{path}: [defaults] must be a table")
    tables = data.get("job", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise JobsError(f"{path}: jobs must be [[job]] tables")
    if not tables:
        raise JobsError(f"{path}: no [[job]] tables")
    if "name" in defaults:
        raise JobsError(f"{path}: [defaults] cannot set 'name'")

    try:
        base, _ = load_settings({}, config, env)
    except ConfigError as exc:
        raise JobsError(str(exc)) from None
    base_values = base.model_dump()

    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables, start=1):
        raw = {str(k).replace("-", "_"): v for k, v in {**defaults, **table}.items()}
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise JobsError(f"{_where(path, None, index)}: missing field 'name'")
        where = _where(path, name, index)
        if not _NAME.fullmatch(name) or ".." in name:
            raise JobsError(f"{where}: name must be a file name: letters, digits, '-', '_' or '.' (no '/', no '..')")
        if name in seen:
            raise JobsError(f"{path}: duplicate job name '{name}' (jobs #{seen[name]} and #{index})")
        seen[name] = index
        for key in raw:
            if key not in JOB_FIELDS and key not in Settings.model_fields:
                raise JobsError(f"{where}: unknown field '{key}'")

        if "cron" not in raw:
            raise JobsError(f"{where}: missing field 'cron'")
        try:
            cron = check_cron(raw["cron"])
        except ValueError as exc:
            raise JobsError(f"{where}: field 'cron': {exc}") from None

        kind = raw.get("kind", base.kind)
        try:
            known = kinds.names()
        except kinds.KindError as exc:
            raise JobsError(f"{where}: field 'kind': {exc}") from None
        if not isinstance(kind, str) or kind not in known:
            raise JobsError(f"{where}: field 'kind': unknown kind {kind!r}; choose one of: {', '.join(known)}")

        topics = raw.get("topics")
        if topics is None:
            raise JobsError(f"{where}: missing field 'topics' (a list such as [\"人工智能发展趋势\"])")
        if isinstance(topics, str) or not isinstance(topics, list) or not topics:
            raise JobsError(f"{where}: field 'topics' must be a non-empty list of topics")
        clean: list[str] = []
        for i, topic in enumerate(topics, start=1):
            if not isinstance(topic, str):
                raise JobsError(f"{where}: field 'topics': item {i} is not a string")
            try:
                clean.append(validate_topic(topic))
            except BadInput as exc:
                raise JobsError(f"{where}: field 'topics': item {i}: {exc}") from None

        values = dict(base_values)
        for key, val in raw.items():
            if key in JOB_FIELDS:
                continue
            if key in PATH_FIELDS and isinstance(val, str):
                p = Path(val).expanduser()
                val = p if p.is_absolute() else path.parent / p
            values[key] = val
        values["kind"] = kind
        values["quiet"] = True
        try:
            settings = Settings(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else "?"
            msg = str(err["msg"]).removeprefix("Value error, ")
            shown = "(value not shown)" if key in NOT_ECHOED else repr(raw.get(key))  # a pasted key
            raise JobsError(f"{where}: field '{key}' = {shown}: {msg}") from None

        job = Job(name, kind, clean, cron, settings, index)
        stems = [stem for _, _, stem in job.reports()]
        if len(set(stems)) != len(stems):
            raise JobsError(f"{where}: field 'topics': two topics give the same file name; make them differ")
        if check_writable:
            try:
                check_output_folder(settings.out)
            except BadInput as exc:
                raise JobsError(f"{where}: field 'out': {exc}") from None
        jobs.append(job)
    return jobs


def select(jobs: list[Job], names: list[str], path: Path) -> list[Job]:
    by_name = {j.name: j for j in jobs}
    for n in names:
        if n not in by_name:
            raise JobsError(f"{path}: no job named '{n}'; jobs: {', '.join(by_name)}")
    return [by_name[n] for n in dict.fromkeys(names)]


# -- state -----------------------------------------------------------------------------------------


def _store(job: Job) -> RunStore:
    from pipeline.run.store import RunStore

    return RunStore(job.settings.run_store)


def last_run(job: Job) -> dict[str, Any] | None:
    """The job's last execution that counts for scheduling (None when the store does not exist)."""
    if not job.settings.run_store_exists():
        return None
    return _store(job).last_job_run(job.name)


class JobStatus(TypedDict):
    """One job as `schedule list` shows it (and prints with --json)."""

    name: str
    kind: str
    cron: str
    topics: list[str]
    out: str
    last_run: str | None
    status: str
    error: str | None
    report: str | None
    next_run: str
    due: bool


def status(job: Job, now: datetime) -> JobStatus:
    """What `schedule list` shows for one job."""
    rows = _store(job).job_runs(job.name, limit=1) if job.settings.run_store_exists() else []
    latest = rows[0] if rows else None
    counted = last_run(job)
    return {
        "name": job.name,
        "kind": job.kind,
        "cron": job.cron,
        "topics": job.topics,
        "out": str(job.out),
        "last_run": latest["started_at"] if latest else None,
        "status": latest["status"] if latest else "never",
        "error": latest["error"] if latest else None,
        "report": latest["report_path"] if latest else None,
        "next_run": iso(next_slot(job.cron, now)),
        "due": is_due(job.cron, now, parse_iso(counted["started_at"]) if counted else None),
    }


def due_jobs(jobs: list[Job], now: datetime) -> list[Job]:
    out = []
    for job in jobs:
        last = last_run(job)
        if is_due(job.cron, now, parse_iso(last["started_at"]) if last else None):
            out.append(job)
    return out


# -- running ---------------------------------------------------------------------------------------


_warm_lock = threading.Lock()
_warm = False


def warm_up() -> None:
    """Load the shared, lazily built tokenizers once: the first job to start loads them while the
    others wait, instead of several threads building them at once."""
    global _warm
    with _warm_lock:
        if _warm:
            return
        from pipeline.text import warm_up as load_tokenizer

        load_tokenizer()  # the facts room needs no warm-up: its tokenizer has no dictionary to load
        _warm = True


class Written(Protocol):
    """What a job needs of a written report (`pipeline.run.runner.RunOutcome` is one)."""

    @property
    def report_path(self) -> Path: ...

    @property
    def run_id(self) -> str: ...


@contextmanager
def _job_slot(job: Job, now: datetime, trigger: str, result: JobResult) -> Iterator[RunStore | None]:
    """Hold the job's lock and, for a `due` trigger, re-check that it is due (another scheduler may have
    run it meanwhile). Yields the job's run store, or None with `result.note` saying why not: another
    scheduler holds the lock, or it already ran. Shared by `run_job` and `queue_job`."""
    lock = Exclusive(job.settings.store or None, f"job:{job.name}", job.lock_path)
    with lock:
        if not lock.acquired:
            where = f"lock {job.lock_path}" if not job.settings.store else f"database lock job:{job.name}"
            result.note = f"another scheduler is running it ({where})"
            yield None
            return
        store = _store(job)
        if trigger == "due":
            last = store.last_job_run(job.name)
            if not is_due(job.cron, now, parse_iso(last["started_at"]) if last else None):
                result.note = f"already ran at {last['started_at'] if last else '?'}"
                yield None
                return
        yield store


class Runner(Protocol):
    """Writes one report: `pipeline.run.runner.run_report` (tests pass their own)."""

    def __call__(self, settings: Settings, topic: str, *, warn: Callable[[str], None] | None = None,
                 day: str | None = None, stem: str | None = None, overwrite: bool = False,
                 topics: list[str] | None = None) -> Written: ...


def run_job(
    job: Job, now: datetime, trigger: str = "due", runner: Runner | None = None,
    clock: Callable[[], datetime] | None = None, warn: Callable[[str], None] | None = None,
) -> JobResult:
    """Run every topic of `job` under its lock and record the execution. Never raises for a failing
    report: the failure is in the result and in the run store."""
    from pipeline.run.runner import BadInput, RunFailed

    runner_is_real = runner is None
    if runner is None:
        from pipeline.run.runner import run_report

        runner = run_report
    clock = clock or (lambda: datetime.now(UTC))
    started = time.perf_counter()
    result = JobResult(job.name, "skipped")
    try:
        with _job_slot(job, now, trigger, result) as store:
            if store is None:
                return result
            row = store.start_job_run(job.name, iso(now), trigger)
            if runner_is_real:
                warm_up()
            errors: list[str] = []
            planned = job.reports()

            def job_warn(message: str) -> None:
                if warn is not None:
                    warn(f"{job.name}: {message.removeprefix('yanbao: ')}")

            for topic, batch, stem in planned:
                t0 = time.perf_counter()
                try:
                    # A job's file is its stable address (a site, a feed points at it): each run replaces
                    # it, never numbering a copy as a person's same-day rerun does.
                    outcome = runner(
                        job.settings, topic, warn=job_warn, day=_aware(now).date().isoformat(),
                        stem=stem, overwrite=True, topics=batch or None,
                    )
                    result.reports.append(outcome.report_path)
                    result.run_ids.append(outcome.run_id)
                    if getattr(outcome, "empty", False):
                        result.note = "nothing relevant was found for a topic; its report says so"
                except (BadInput, RunFailed) as exc:
                    errors.append(_one_line(exc) if len(planned) == 1 else f"{topic}: {_one_line(exc)}")
                except Exception as exc:  # a bug or an I/O error in one job must not stop the others
                    msg = f"{type(exc).__name__}: {_one_line(exc)}"
                    errors.append(msg if len(planned) == 1 else f"{topic}: {msg}")
                finally:
                    result.run_seconds += time.perf_counter() - t0
            result.status = "failed" if errors else "done"
            result.error = "; ".join(errors) or None
            store.finish_job_run(
                row, result.status, finished_at=iso(clock()), run_id=",".join(result.run_ids) or None,
                report_path="\n".join(str(p) for p in result.reports) or None, error=result.error,
            )
    except Exception as exc:  # the store or the lock folder itself: still one job's failure
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {_one_line(exc)}"
    finally:
        result.seconds = time.perf_counter() - started
    return result


#: Sends one recorded run to the workers: (run id, its out folder, the broker queue) — `Broker.publish`.
Publish = Callable[[str, Path, str], None]


def queue_job(job: Job, now: datetime, publish_for: Callable[[Settings], Publish], trigger: str = "due") -> JobResult:
    """`schedule run --queue`: under the job's lock, re-check that it is due, record the execution
    (`job_runs`, status `queued`) and one queued run per report, and publish them; workers write the
    reports (pipeline/run/queue.py) and the last one to finish closes the execution. `publish_for(settings)`
    gives the publishing function for the job's broker."""
    from pipeline.run.queue import record_queued

    started = time.perf_counter()
    result = JobResult(job.name, "skipped")
    try:
        with _job_slot(job, now, trigger, result) as store:
            if store is None:
                return result
            try:
                needs_sources = SEARCH_ENGINES.get(job.settings.search).needs_sources
            except EngineSetupError as exc:  # a plugin that cannot be loaded
                raise JobsError(str(exc)) from None
            if needs_sources and not job.settings.sources.is_dir():
                raise JobsError(f"sources folder not found: {job.settings.sources}")
            publish = publish_for(job.settings)
            row = store.start_job_run(job.name, iso(now), trigger, status="queued")
            day = _aware(now).date().isoformat()
            for topic, batch, stem in job.reports():
                result.run_ids.append(record_queued(
                    store, job.settings, topic, day, topics=batch, stem=stem, overwrite=True, job_run=row,
                ))
            store.set_job_run_ids(row, result.run_ids)
            try:
                for run_id in result.run_ids:
                    publish(run_id, job.out, job.settings.broker_queue)
            except Exception as exc:
                for run_id in result.run_ids:
                    store.finish_run(run_id, "failed", error=f"not queued: {_one_line(exc)}")
                store.finish_job_run(row, "failed", run_id=",".join(result.run_ids), error=_one_line(exc))
                raise
            result.status = "queued"
    except Exception as exc:
        result.status = "failed"
        result.error = _one_line(exc)
    finally:
        result.seconds = time.perf_counter() - started
    return result


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def run_jobs(
    jobs: list[Job], now: datetime, trigger: str = "due", concurrency: int = 4, runner: Runner | None = None,
    clock: Callable[[], datetime] | None = None, on_result: Callable[[JobResult], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[JobResult]:
    """Run `jobs` (already chosen: due, or named) with at most `concurrency` at once; results in job order.
    `on_result` is called as each job ends (from its thread, serialized)."""
    if not jobs:
        return []
    lock = threading.Lock()

    def one(job: Job) -> JobResult:
        res = run_job(job, now, trigger, runner=runner, clock=clock, warn=warn)
        if on_result is not None:
            with lock:
                on_result(res)
        return res

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(jobs))), thread_name_prefix="job") as pool:
        return list(pool.map(one, jobs))
