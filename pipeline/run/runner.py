"""One run: wire the stages, the run store, the facts check and the manifest.

The stages know nothing of files or SQLite; this module decides what is cached, what is saved, which
engine answers, and what the user is told. Every stage's output is saved in the run store (`steps`),
so a stage can be inspected or re-run alone.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from pipeline import kinds
from pipeline.config import Settings
from pipeline.kinds.contract import Composed, KindFailed, RunContext
from pipeline.kinds.prompting import Journal, StageEnv
from pipeline.llm.base import LLM, Completion, LLMError, T, Task, capabilities
from pipeline.llm.budget import prompt_budget
from pipeline.models import JSONObject, WorkerResult
from pipeline.run.data_check import appendix, evidence_name
from pipeline.run.db import StoreUnavailable, redact
from pipeline.run.engines import SEARCH_ENGINES, llm_config
from pipeline.run.locks import Exclusive
from pipeline.run.publish import publish_report
from pipeline.run.render import render, render_sections, write_atomic
from pipeline.run.store import (
    CallListener,
    RecordingFetcher,
    RecordingLLM,
    RecordingSearch,
    RecordRow,
    RunStore,
    fetch_errors,
)
from pipeline.run.verify import RUN_FACTS, Verifier, check_holds, claims_by_section
from pipeline.search.base import SearchError

if TYPE_CHECKING:  # the fetcher's module loads httpx; PageFetcher builds it on the first page read
    from pipeline.facts.check import CheckJSON
    from pipeline.search.base import Fetcher, Search
    from pipeline.search.fetch import FetchResult

MAX_TOPIC_CHARS = 500
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class BadInput(Exception):
    """The user's input cannot be used (exit 2). One line naming what is wrong."""


class RunFailed(Exception):
    """The run could not finish (exit 1). One line naming the step and the cause."""


class RunInterrupted(RunFailed):
    """The run stopped for a cause outside it (the shared run store went away): it is kept, unfinished,
    and `yanbao run --resume run_id` (or a retried queue task) finishes it, sending only what is missing."""

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class ModelFailed(RunFailed):
    """The model failed the run (exit 1), but its degraded report was written for inspection: `outcome`."""

    def __init__(self, message: str, outcome: RunOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class RunOutcome:
    run_id: str
    report_path: Path
    manifest_path: Path
    # run.json as written: the runner's fields and the kind's own; its readers index it as the JSON it is
    manifest: dict[str, Any]
    empty: bool  # no material was found at all: the report says so plainly

    @property
    def files(self) -> list[Path]:
        """Every file the run wrote, the report last (`yanbao run` prints them in this order)."""
        others = [Path(p) for p in self.manifest.get("outputs", []) if Path(p) != self.report_path]
        return [*others, self.manifest_path, self.report_path]


def validate_topic(topic: str) -> str:
    if topic is None or not topic.strip():
        raise BadInput("topic is empty: give a research topic, e.g. yanbao run \"人工智能发展趋势\"")
    if _CONTROL_CHARS.search(topic):
        raise BadInput("topic contains control characters; remove them")
    topic = re.sub(r"\s+", " ", topic).strip()
    if len(topic) > MAX_TOPIC_CHARS:
        raise BadInput(f"topic is {len(topic)} characters; the limit is {MAX_TOPIC_CHARS}")
    return topic


def check_output_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"output folder {out} cannot be created: {exc.strerror or exc}") from None
    probe = out / f".yanbao-write-test-{time.time_ns()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"output folder {out} is not writable: {exc.strerror or exc}") from None


def make_search(settings: Settings) -> Search:
    """The search engine `settings.search` names (pipeline.run.engines), its sources folder checked
    first when it reads one."""
    from pipeline.run.engines import SEARCH_ENGINES, EngineSetupError

    try:
        spec = SEARCH_ENGINES.get(settings.search)
    except EngineSetupError as exc:
        raise BadInput(str(exc)) from None
    if spec.needs_sources:
        src = settings.sources
        if not src.exists():
            raise BadInput(f"sources folder not found: {src}")
        if not src.is_dir():
            raise BadInput(f"sources path is not a folder: {src}")
    try:
        return spec.build(settings)
    except SearchError as exc:
        raise BadInput(str(exc)) from None


def make_verifier(settings: Settings, journal: Journal) -> Verifier:
    from pipeline.facts.store import FactsError

    try:
        verifier = Verifier(RUN_FACTS, journal)  # the run's own facts only: reruns check alike
    except FactsError as exc:  # the store cannot be opened or written (disk full, read-only): not the user's input
        raise RunFailed(str(exc)) from None
    try:
        verifier.load_curated(settings.sources)
    except FactsError as exc:  # a malformed facts.yaml: the message names file, line and field
        raise BadInput(str(exc)) from None
    return verifier


def make_llm(settings: Settings, journal: Journal, warn: Callable[[str], None]) -> LLM:
    """The engine `settings.llm` names (pipeline.run.engines: `auto` uses Ollama when it answers and
    has the model, else the extractive engine, saying so on stderr and in the manifest). A set-up
    problem is bad input (exit 2), an engine asked for by name that does not answer fails the run."""
    from pipeline.run.engines import LLM_ENGINES, EngineSetupError, EngineUnavailable

    try:
        return LLM_ENGINES.get(settings.llm).build(settings, journal, warn)
    except EngineSetupError as exc:
        raise BadInput(str(exc)) from None
    except EngineUnavailable as exc:
        raise RunFailed(str(exc)) from None


def make_fetcher(settings: Settings, store: RunStore | None) -> Fetcher:
    """The page fetcher `settings.fetcher` names, caching in the run store unless `--no-cache`."""
    from pipeline.run.engines import FETCHERS, EngineSetupError

    try:
        return FETCHERS.get(settings.fetcher).build(settings, store if settings.cache else None)
    except EngineSetupError as exc:
        raise BadInput(str(exc)) from None


class PageFetcher:
    """The run's page fetcher (the one `settings.fetcher` names in pipeline.run.engines), made when the
    first page is read: a run that reads none (the local corpus, a digest of topics) never loads httpx
    and trafilatura for it. Pages it read are cached in `store` (the run store, set once the run has one;
    not with --no-cache)."""

    def __init__(self, settings: Settings, store: RunStore | None = None) -> None:
        self.settings = settings
        self.store = store
        self._fetcher: Fetcher | None = None
        self._lock = threading.Lock()

    def _get(self) -> Fetcher:
        with self._lock:
            if self._fetcher is None:
                self._fetcher = make_fetcher(self.settings, self.store)
            return self._fetcher

    def fetch(self, url: str, step: str = "fetch") -> FetchResult:
        return self._get().fetch(url, step=step)

    def fetch_many(self, urls: list[str], step: str = "fetch") -> list[FetchResult]:
        return self._get().fetch_many(urls, step=step)

    def close(self) -> None:
        with self._lock:
            closer = getattr(self._fetcher, "close", None)  # the HTTP fetcher holds a connection pool
            if callable(closer):
                closer()
            self._fetcher = None


def checked_report(
    verifier: Verifier, composed: Composed, view: dict[str, object]
) -> tuple[str, CheckJSON, dict[str, object]]:
    """Render the report, check its numbers once, let the kind rate what depends on the check (the
    digest's stars: `Composed.rating`, from the claims of each section of the report) and render that
    in, then mark the contradicted claims. Returns the report as written, its check (offsets into it),
    and the kind's run.json fields that came from the check."""
    verifier.import_sources(composed.refs)
    verifier.literals = frozenset(composed.literals)
    draft, sections = render_sections(composed.template, **view)
    if composed.rating is None:
        body, checks = verifier.check_final(draft)
        return body, checks, {}
    report = verifier.check(draft)
    rated = composed.rating.rate(claims_by_section(report, sections))
    body = render(composed.template, **{**view, **rated.context})
    if not check_holds(draft, body, rated.marks):  # the rated values moved text: check the report as written
        report = verifier.check(body)
    body, checks = verifier.mark(body, report)
    return body, checks, rated.manifest


def recorded_settings(settings: Settings) -> dict[str, object]:
    """The settings a run keeps in the run store, for a resume on this or another machine: all of them,
    the sources folder absolute, less the store and broker addresses (they may hold a password, and
    each machine uses its own)."""
    return {**settings.model_dump(mode="json", exclude={"broker", "store"}), "sources": str(settings.sources.resolve())}


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


class _Timed:
    """Collects wall-clock intervals of the engine's calls (to report time spent inside the LLM)."""

    def __init__(self, inner: RecordingLLM) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = inner.model
        caps = capabilities(inner)
        self.generative, self.sequential, self.passages, self.cacheable = (
            caps.generative, caps.sequential, caps.passages, caps.cacheable)
        self.intervals: list[tuple[float, float]] = []
        self.invalid: list[str | None] = []  # per task: why its answer failed validation, or None
        self._where: dict[int, int] = {}  # id of a task's Completion -> its place in `invalid`
        self._lock = threading.Lock()

    def cache_identity(self) -> JSONObject:
        return self.inner.cache_identity()

    def complete(self, task: Task[T]) -> Completion[T]:
        start = time.perf_counter()
        try:
            result = self.inner.complete(task)
        finally:
            self.intervals.append((start, time.perf_counter()))
        with self._lock:
            self._where[id(result)] = len(self.invalid)
            self.invalid.append(result.invalid if result.value is None else None)
        return result

    def reject(self, result: object, why: str) -> None:
        """The answer of `result` parsed but failed the content checks and was not used: it counts as
        failed (`model_failure`), with `why` (pipeline.kinds.slotcheck's Chinese reasons)."""
        with self._lock:
            at = self._where.get(id(result))
            if at is not None:
                self.invalid[at] = why


class ModelFailure(TypedDict):
    """Why the model, not the material, failed the run (run.json `failed`)."""

    reason: str
    model: str
    tasks: int
    failed_tasks: int
    causes: dict[str, int]
    sources_found: int


def model_failure(engine: LLM, llm: _Timed, composed: Composed) -> ModelFailure | None:
    """Whether the model, not the material, failed the run: every LLM task's answer failed validation
    (after repair and retry), or the sources found were never summarized because the answers failed.
    Then the run fails (exit 1) instead of reporting "nothing relevant" (exit 3) or a hollow report."""
    from collections import Counter

    from pipeline.llm.validate import failure_kind

    invalid = [why for why in llm.invalid if why is not None]
    if not capabilities(engine).generative or not invalid:  # an engine that writes nothing cannot fail so
        return None
    # Material found: the workers' sources, less those a coverage check (when the kind reports one)
    # judged not to cover their sub-topic: those are "nothing relevant", whatever the model did.
    judged = {c.get("subtopic"): c.get("covered") for c in _subtopic_coverage(composed.manifest)}
    found = sum(len(w.sources) for w in composed.workers if judged.get(w.subtopic) is not False)
    tasks = len(llm.invalid)
    if len(invalid) < tasks and not (composed.empty and found):
        return None
    causes = Counter(failure_kind(why) for why in invalid)
    cause, count = causes.most_common(1)[0]
    what = cause if count == len(invalid) else "invalid (" + ", ".join(f"{n} {c}" for c, n in causes.most_common()) + ")"
    reason = f"{engine.model}: {len(invalid)} of {tasks} answers {what}"
    if len(invalid) < tasks:
        reason += f"; nothing was written from the {found} sources found"
    return ModelFailure(reason=reason, model=engine.model, tasks=tasks, failed_tasks=len(invalid),
                        causes=dict(causes.most_common()), sources_found=found)


def _subtopic_coverage(manifest: dict[str, object]) -> list[dict[str, object]]:
    """The kind's judgement of each sub-topic (`coverage.subtopics` of its manifest fields), if it has one."""
    cov = manifest.get("coverage")
    rows = cov.get("subtopics", []) if isinstance(cov, dict) else []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def kind_of(name: str) -> kinds.Kind:
    """The registered kind (`pipeline.kinds`); an unknown one is bad input naming the registered ones."""
    try:
        return kinds.get(name)
    except kinds.KindError as exc:
        raise BadInput(str(exc)) from None


def check_topic_count(kind: kinds.Kind, topics: list[str] | None) -> None:
    """Several topics only for a batch kind (one article per topic, one file for the batch)."""
    if topics and len(topics) > 1 and not kind.batch:
        raise BadInput(f"--kind {kind.name} takes one topic, got {len(topics)}; {kinds.several_topics_hint()}")


@contextmanager
def report_lock(out: Path, stem: str, store: str | Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on one report for the whole run: two processes (two schedulers, a
    scheduler and a person) never write the same report at once. The lock dies with its process.
    A file lock in `<out>/.locks`; with a shared store (`store` a URL) a database lock named after the
    report's absolute path, so machines that mount the out folder at the same path exclude each other."""
    path = out / ".locks" / f"{stem}.lock"
    with Exclusive(store, f"report:{(out / stem).resolve()}", path) as lock:
        if not lock.acquired:
            raise RunFailed(f"another yanbao run is writing {out / stem}.md right now; wait for it to finish")
        yield


# A report's files share its stem; a name is taken when any of them exists.
REPORT_SUFFIXES = (".md", ".html", ".run.json", ".check.json")
MAX_COPIES = 999


def _taken(out: Path, stem: str, run_id: str | None = None) -> bool:
    """Whether `<stem>.*` holds a report this run must not replace. For a resume (`run_id`), its own
    files are not taken: their run.json names it, or there is no run.json (the run died between writes)."""
    if not any((out / f"{stem}{suffix}").exists() for suffix in REPORT_SUFFIXES):
        return False
    if run_id is None:
        return True
    manifest = out / f"{stem}.run.json"
    if not manifest.exists():
        return False
    try:
        return bool(json.loads(manifest.read_text(encoding="utf-8")).get("run_id") != run_id)
    except (OSError, ValueError, AttributeError):
        return True


def numbered(base: str, n: int) -> str:
    return base if n == 1 else f"{base}-{n}"


@contextmanager
def claim_report(
    out: Path, base: str, overwrite: bool = False, run_id: str | None = None, store: str | Path | None = None
) -> Iterator[str]:
    """Lock the files this run will write and yield their stem. An earlier report is kept: when `<base>`
    is taken the run writes `<base>-2`, then `-3` … (the first free number; its .html and .run.json
    follow the same stem). `overwrite` writes `<base>` whatever is there. Two runs that want the same
    name at the same time: the second fails (`report_lock`)."""
    for n in range(1, MAX_COPIES + 1):
        stem = numbered(base, n)
        if not overwrite and _taken(out, stem, run_id):
            continue
        with report_lock(out, stem, store):
            if overwrite or not _taken(out, stem, run_id):  # a run that held the lock may just have written it
                yield stem
                return
    raise RunFailed(f"{out / base}.md and {MAX_COPIES - 1} numbered copies exist; remove some or use --overwrite")


def previous_report(out: Path, base: str, stem: str) -> Path | None:
    """The latest earlier report `stem` was numbered after (`<base>-2.md` for `<base>-3`), for `yanbao diff`."""
    n = int(stem.rsplit("-", 1)[1]) if stem != base else 1
    for k in range(n - 1, 0, -1):
        path = out / f"{numbered(base, k)}.md"
        if path.is_file():
            return path.resolve()
    return None


def load_resume(out: Path, run_id: str, store: str = "") -> tuple[Settings, str, str]:
    """Settings, topic and start day of a recorded run, for `--resume`. `store`: the shared store's URL
    (the run is found there whatever the out folder), else the run store of `out`."""
    db: str | Path = store or out / "yanbao.db"
    if not store and not (out / "yanbao.db").is_file():
        raise BadInput(f"no run store at {db}; --resume needs the --out folder of the run")
    where = redact(store) if store else db
    row = RunStore(db).get_run(run_id)
    if row is None:
        raise BadInput(f"no run {run_id} in {where}; see yanbao runs list")
    if row["status"] == "done":
        raise BadInput(f"run {run_id} already finished: {row['report_path']}")
    if not row.get("settings"):
        raise BadInput(f"run {run_id} was recorded without its settings and cannot be resumed")
    data = json.loads(row["settings"])
    data["out"] = str(out)
    data["cache"] = True
    data["store"] = store  # never recorded (it may hold a password): the store the run was found in
    return Settings(**data), row["topic"], row["day"]


def run_report(
    settings: Settings, topic: str, progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None, on_call: CallListener | None = None, resume: str | None = None,
    day: str | None = None, stem: str | None = None, topics: list[str] | None = None, overwrite: bool = False,
    fresh: bool = False,
) -> RunOutcome:
    """Write one report. With `resume`, continue that recorded run: every LLM reply and search result
    it already has comes from the run store, so only the missing requests are sent, and the report goes
    to the run's recorded file name. `stem` names the files (`<stem>.md`, `.html`, `.run.json`) instead
    of `<day>-<slug>` (a scheduled job's stable name, the day's digest). An existing report of that name
    is kept and this one numbered `<stem>-2`, `-3` … unless `overwrite` (scheduled jobs replace theirs).
    `topics` lists every topic of a batch kind (commentary articles, digest items); `topic` names the run.
    `fresh` with `resume`: the first attempt of a run recorded beforehand (a queued run, pipeline/run/queue.py),
    so it is written as a new run would be, not as a resume."""
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    topic = validate_topic(topic)
    topics = [validate_topic(t) for t in topics or []]
    kind = kind_of(settings.kind)
    check_topic_count(kind, topics)
    check_output_folder(settings.out)
    day = day or date.today().isoformat()
    if stem is not None and (not re.fullmatch(r"[^\W_][\w.-]{0,199}", stem) or ".." in stem):
        raise BadInput(f"report name '{stem}' cannot be a file name: use letters, digits, '-', '_' or '.'")
    if resume and stem is None and settings.run_store_exists():  # a resume is not a rerun: same files
        stem = (RunStore(settings.run_store).get_run(resume) or {}).get("stem")
    base = stem or kinds.file_stem(kind, day, topic)
    store = settings.store or None
    with claim_report(settings.out, base, overwrite=overwrite, run_id=resume, store=store) as stem:
        if stem != base:
            if resume and not fresh:
                warn(f"yanbao: warning: {settings.out / base}.md now holds another run's report; this run writes {stem}.md")
            elif progress is not None:
                progress(f"{base}.md exists and is kept; this report is {stem}.md (--overwrite replaces it)")
        previous = None if resume and not fresh else previous_report(settings.out, base, stem)
        with closing(PageFetcher(settings)) as pages:
            return _run_locked(
                settings, topic, kind.compose, stem, day, progress, warn, on_call, resume, topics, previous,
                resumed=not fresh, pages=pages,
            )


def _run_locked(
    settings: Settings, topic: str, compose: Callable[[RunContext], Composed], stem: str, day: str,
    progress: Callable[[str], None] | None, warn: Callable[[str], None], on_call: CallListener | None,
    resume: str | None, topics: list[str], previous: Path | None, resumed: bool, pages: PageFetcher,
) -> RunOutcome:
    started = time.perf_counter()
    journal = Journal(progress)
    search_backend = make_search(settings)
    local = getattr(search_backend, "fallback", search_backend)
    for line in getattr(local, "warnings", None) or []:
        journal.note("search.index", line)
        warn(f"yanbao: warning: {line}")
    verifier = make_verifier(settings, journal)  # before any work: a broken facts.yaml is bad input
    engine = make_llm(settings, journal, warn)

    store = RunStore(settings.run_store)
    config = {
        "provider": engine.provider,
        "llm_requested": settings.llm,
        "model": engine.model,
        "ollama_host": settings.ollama_host,
        **llm_config(settings, engine),  # the engine's own fields (an OpenAI-compatible server's address)
        "search_engine": settings.search,
        "max_loops": settings.max_loops,
        "breadth": settings.breadth,
        "concurrency": settings.concurrency,
        "num_ctx": settings.num_ctx,
        "num_predict": settings.num_predict,
        "temperature": settings.temperature,
        "seed": settings.seed,
        "fetch_pages": settings.fetch_pages,
        "cache": settings.cache,
    }
    first_call = store.last_call_id()  # the manifest counts this attempt's calls (a resume has had others)
    run_id = store.start_run(
        topic, settings.kind, config, run_id=resume, settings=recorded_settings(settings),
        day=day, stem=stem,
    )
    llm = _Timed(RecordingLLM(engine, store, run_id, use_cache=settings.cache, on_call=on_call))
    search = RecordingSearch(search_backend, store, run_id, use_cache=settings.cache, day=day)
    pages.store = store
    env = StageEnv(
        llm=llm,
        journal=journal,
        prompt_tokens=prompt_budget(getattr(engine, "context_tokens", settings.num_ctx), settings.num_predict),
        search=search,
        # Every page the run reads is recorded (a digest's web items too); pages behind search hits are
        # read only from the web's.
        fetcher=RecordingFetcher(pages, store, run_id),
        fetch_pages=settings.fetch_pages if SEARCH_ENGINES.get(settings.search).reads_pages else 0,
        results_per_query=settings.results_per_query,
    )
    # The extractive engine remembers which sentences it used; running its steps in order keeps the
    # report identical from run to run. It is CPU-bound, so concurrency would buy nothing anyway.
    pool = 1 if capabilities(engine).sequential else settings.concurrency
    run = RunContext(topic, settings, env, engine, store, run_id, verifier, pool, topics=list(topics), day=day)
    try:
        composed = compose(run)
    except (LLMError, SearchError, KindFailed) as exc:
        store.finish_run(run_id, "failed", error=str(exc))
        raise RunFailed(str(exc)) from None
    except StoreUnavailable as exc:  # the shared store went away: the run stays resumable, nothing is written
        raise RunInterrupted(f"{exc}; the run is kept: yanbao run --resume {run_id}", run_id) from None

    for d in getattr(search_backend, "degraded", None) or []:  # auto search fell back to local
        journal.degrade(d.get("step", "search"), d["reason"])
    failed = model_failure(engine, llm, composed)
    if failed is not None:  # the report is kept for inspection; it must not claim "nothing relevant"
        journal.degrade("llm", f"{failed['reason']}（模型的回答未通过校验，本次运行失败，报告仅供排查）")
        if composed.context.get("empty"):
            composed.context = {**composed.context, "empty": False}
    notices = sorted(journal.degraded, key=lambda d: d["step"])
    body, checks, rated = checked_report(
        verifier, composed, {**composed.context, "notices": notices, "manifest_name": "run.json"}
    )
    report = body.rstrip("\n") + "\n\n" + appendix(checks, body, evidence_name(stem))

    report_path = (settings.out / f"{stem}.md").resolve()
    manifest_path = (settings.out / f"{stem}.run.json").resolve()
    manifest = build_manifest(
        store, run_id, topic, settings, config, composed.workers, journal, checks, llm,
        time.perf_counter() - started, first_call,
    )
    if resume and resumed:
        earlier = [c for c in store.calls(run_id, "llm") if c["id"] <= first_call]
        manifest["resumed"] = {"earlier_llm_calls": sum(c["requests"] for c in earlier), "earlier_tasks": len(earlier)}
    manifest.update(composed.manifest)
    manifest.update(rated)
    manifest["report"] = str(report_path)
    if failed is not None:
        manifest["failed"] = failed
    if previous is not None:
        manifest["previous"] = str(previous)  # the same-day report this one did not replace
    try:
        written = publish_report(settings, report_path, report, manifest, composed.refs, day, checks=checks)
        for suffix in REPORT_SUFFIXES:  # a replaced report's .html that this run did not write is stale
            sibling = report_path.with_name(f"{stem}{suffix}")
            if sibling not in written and sibling != manifest_path:
                sibling.unlink(missing_ok=True)
        manifest["outputs"] = [str(p) for p in written]
        write_atomic(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    except OSError as exc:
        store.finish_run(run_id, "failed", error=str(exc))
        raise RunFailed(f"cannot write {report_path}: {exc.strerror or exc}") from None
    outcome = RunOutcome(run_id, report_path, manifest_path, manifest, empty=composed.empty)
    if failed is not None:
        store.finish_run(run_id, "failed", report_path=str(report_path), error=failed["reason"])
        raise ModelFailed(f"{failed['reason']}; the run failed, its report is kept for inspection: {report_path}", outcome)
    store.finish_run(run_id, "done", report_path=str(report_path))
    return outcome


def _served_by(llm_calls: list[RecordRow]) -> dict[str, object]:
    """Which server answered each LLM call of this attempt: `{host: calls}` and, per call in order,
    `[step, host]` (cache hits and non-network engines have no host and are left out)."""
    served = [(c["step"], c["host"]) for c in llm_calls if c.get("host")]
    counts: dict[str, int] = {}
    for _, host in served:
        counts[host] = counts.get(host, 0) + 1
    return {"calls": counts, "served": [list(p) for p in served]}


def build_manifest(
    store: RunStore, run_id: str, topic: str, settings: Settings, config: dict[str, object],
    workers: list[WorkerResult], journal: Journal, checks: CheckJSON, llm: _Timed, total_s: float,
    after_id: int = 0,
) -> dict[str, object]:
    calls = store.calls(run_id, after_id=after_id)
    llm_calls = [c for c in calls if c["kind"] == "llm"]
    search_calls = [c for c in calls if c["kind"] == "search"]
    return {
        "run_id": run_id,
        "topic": topic,
        "kind": settings.kind,
        "created_at": datetime.now().isoformat(timespec="seconds"),
        "config": config,
        "llm": {
            "calls": sum(c["requests"] for c in llm_calls),
            "tasks": len(llm_calls),
            "prompt_tokens": sum(c["prompt_tokens"] for c in llm_calls),
            # what the server evaluated: less than prompt_tokens when it reused cached prompt prefixes
            "prompt_eval_tokens": sum(c["prompt_tokens"] if c.get("prompt_eval_tokens") is None
                                      else c["prompt_eval_tokens"] for c in llm_calls),
            "completion_tokens": sum(c["completion_tokens"] for c in llm_calls),
            "seconds": round(sum(c["seconds"] for c in llm_calls), 3),
            "cache_hits": sum(1 for c in llm_calls if c["outcome"] == "cached"),
            "repairs": sum(1 for c in llm_calls if c["outcome"] == "repaired"),
            "failures": sum(1 for c in llm_calls if c["outcome"] in ("degraded", "error")),
            "hosts": _served_by(llm_calls),
        },
        "search": {
            "calls": len(search_calls),
            "results": sum(c["results"] for c in search_calls),
            "errors": sum(1 for c in search_calls if c["outcome"] == "error"),
            "cache_hits": sum(1 for c in search_calls if c["outcome"] == "cached"),
            "fetches": sum(1 for c in calls if c["kind"] == "fetch"),
            "fetch_errors": fetch_errors(calls),
        },
        "workers": [
            {
                "subtopic": w.subtopic,
                "loops": w.loops,
                "queries": w.queries,
                "derived_queries": w.derived_queries,
                "sources": [s.url for s in w.sources],
            }
            for w in sorted(workers, key=lambda w: w.index)
        ],
        "checks": checks.get("summary", {}),
        "degraded": sorted(journal.degraded, key=lambda d: d["step"]),
        "notes": sorted(journal.notes, key=lambda d: d["step"]),
        "timings": {"total_s": round(total_s, 3), "llm_s": round(_union_seconds(llm.intervals), 3)},
    }
