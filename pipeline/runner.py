"""One run: wire the stages, the run store, the facts check and the manifest.

The stages know nothing of files or SQLite; this module decides what is cached, what is saved, which
engine answers, and what the user is told. Every stage's output is saved in the run store (`steps`),
so a stage can be inspected or re-run alone.
"""

from __future__ import annotations

import re
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pipeline import analysis, research, supervisor, synthesis
from pipeline.citations import map_strings, number_sources, renumber
from pipeline.config import Settings
from pipeline.llm.base import LLM, LLMError, Options
from pipeline.llm.budget import prompt_budget
from pipeline.models import Analysis, SearchResult, Synthesis
from pipeline.prompting import Journal, StageEnv
from pipeline.render import render, slugify, write_atomic
from pipeline.search.base import SearchError
from pipeline.store import RecordingLLM, RecordingSearch, RunStore

MAX_TOPIC_CHARS = 500
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class BadInput(Exception):
    """The user's input cannot be used (exit 2). One line naming what is wrong."""


class RunFailed(Exception):
    """The run could not finish (exit 1). One line naming the step and the cause."""


@dataclass
class RunOutcome:
    run_id: str
    report_path: Path
    manifest_path: Path
    manifest: dict
    empty: bool  # no material was found at all: the report says so plainly


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


def make_search(settings: Settings):
    from pipeline.search import make_search as factory

    if settings.search in ("local", "auto"):
        src = settings.sources
        if not src.exists():
            raise BadInput(f"sources folder not found: {src}")
        if not src.is_dir():
            raise BadInput(f"sources path is not a folder: {src}")
    try:
        return factory(
            settings.search, sources=settings.sources, index_path=settings.out / "index.db", region=settings.region
        )
    except SearchError as exc:
        raise BadInput(str(exc)) from None


def make_llm(settings: Settings, journal: Journal, warn) -> LLM:
    """Pick the engine. `auto` uses Ollama when it answers and has the model, else the extractive
    engine, saying so on stderr and in the manifest."""
    if settings.llm == "extractive":
        from pipeline.llm.extractive import ExtractiveLLM

        return ExtractiveLLM()
    from pipeline.llm.ollama import OllamaLLM

    options = Options(
        num_ctx=settings.num_ctx,
        num_predict=settings.num_predict,
        temperature=settings.temperature,
        seed=settings.seed,
        timeout_s=settings.timeout_s,
    )
    engine = OllamaLLM(
        settings.ollama_host, settings.model, options, stream=settings.stream, max_retries=settings.max_retries
    )
    try:
        engine.check_model()
        return engine
    except LLMError as exc:
        if settings.llm == "ollama":
            raise RunFailed(str(exc)) from None
        from pipeline.llm.extractive import ExtractiveLLM

        reason = f"Ollama not usable ({exc}); using the extractive engine"
        journal.degrade("llm", reason)
        warn(f"yanbao: {reason}")
        return ExtractiveLLM()


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
        self.intervals: list[tuple[float, float]] = []

    def cache_identity(self) -> dict:
        return self.inner.cache_identity()

    def complete(self, task):
        start = time.perf_counter()
        try:
            return self.inner.complete(task)
        finally:
            self.intervals.append((start, time.perf_counter()))


def _run_stages(env: StageEnv, topic: str, subtopics: list[str], max_loops: int, pool_size: int):
    """Research, analysis and synthesis on one pool of `pool_size` threads.

    A worker's five analysis slots are queued the moment its research ends, and the synthesis slots
    run side by side, so no thread idles while another worker is still searching. With one thread
    everything runs in a fixed order (the extractive engine relies on it).
    """
    items = list(enumerate(subtopics, start=1))
    slot_names = [n for n, _ in analysis.SLOTS]
    if pool_size <= 1:
        workers = [research.run_worker(env, topic, i, s, max_loops) for i, s in items]
        usable = supervisor.review(env, workers)
        analyses = {w.index: analysis.analyze(env, topic, w) for w in usable}
        refs, maps = number_sources(workers)
        synth = synthesis.synthesize(env, topic, workers, refs, maps) if usable else None
    else:
        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="yanbao") as pool:
            try:
                pending = [pool.submit(research.run_worker, env, topic, i, s, max_loops) for i, s in items]
                slots: dict[tuple[int, str], Future] = {}
                workers = []
                for fut in as_completed(pending):
                    w = fut.result()
                    workers.append(w)
                    for name in slot_names if supervisor.review(env, [w]) else []:
                        slots[(w.index, name)] = pool.submit(analysis.analyze_slot, env, topic, w, name)
                workers.sort(key=lambda w: w.index)
                usable = [w for w in workers if (w.index, slot_names[0]) in slots]
                analyses = {
                    w.index: Analysis(**{n: slots[(w.index, n)].result() for n in slot_names}) for w in usable
                }
                refs, maps = number_sources(workers)
                synth = None
                if usable:
                    mat = synthesis.material(workers, refs, maps)
                    futs = {n: pool.submit(synthesis.synthesize_slot, env, topic, mat, n) for n, _ in synthesis.SLOTS}
                    synth = Synthesis(**{n: f.result() for n, f in futs.items()})
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    if synth is None:
        synth = Synthesis()
        env.journal.degrade("synthesis", f"nothing relevant to “{topic}” was found in the sources; nothing to synthesize")
    return workers, analyses, synth, refs, maps


def _why(journal: Journal, prefix: str, names: tuple[str, ...]) -> dict[str, str]:
    found = {d["step"]: d["reason"] for d in journal.degraded}
    return {n: found.get(f"{prefix}.{n}", "无可用资料") for n in names}


def _engine_label(search) -> str:
    inner = getattr(search, "inner", search)
    degraded = getattr(inner, "degraded", None)
    if degraded:
        return "duckduckgo（不可用，已改用 local）"
    return getattr(inner, "engine", "?")


def check_facts(settings: Settings, body: str, refs: list[SearchResult], journal: Journal) -> tuple[str, dict]:
    """Import every source the run used into the facts store, check the report body, mark contradictions."""
    from pipeline.facts.check import check_text, mark_contradicted
    from pipeline.facts.store import FactStore

    store = FactStore(settings.facts_path)
    curated = settings.sources / "facts.yaml"
    if curated.is_file():
        store.load_curated(curated)
    for src in refs:
        try:
            if src.path and Path(src.path).is_file():
                store.import_path(src.path)
            elif src.text.strip():
                store.import_text(src.text, title=src.title, url=src.url, date=src.date)
        except Exception as exc:  # one bad source must not sink the check of all the others
            journal.degrade("facts.import", f"{src.url}: {exc}")
    report = check_text(body, store)
    skip = _unchecked_spans(body)
    report.claims = [c for c in report.claims if not any(a <= c.start < b for a, b in skip)]
    report.summary = {
        s: sum(1 for c in report.claims if c.status == s) for s in ("verified", "contradicted", "unsupported")
    }
    return mark_contradicted(body, report), report.to_json()


def _unchecked_spans(body: str) -> list[tuple[int, int]]:
    """Parts written by code from metadata, not claims: the header block, source lists, reference list."""
    spans = []
    first = body.find("\n## 研究结果")
    spans.append((0, first if first > 0 else 0))
    for m in re.finditer(r"^ ?### Sources:\n(?:\* .*\n?)*", body, re.M):
        spans.append(m.span())
    refs = body.find("### 5. 参考资料")
    if refs >= 0:
        end = body.find("\n结语", refs)
        spans.append((refs, end if end > 0 else len(body)))
    return spans


def run_report(settings: Settings, topic: str, progress=None, warn=None, on_call=None) -> RunOutcome:
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    started = time.perf_counter()
    topic = validate_topic(topic)
    check_output_folder(settings.out)
    journal = Journal(progress)
    search_backend = make_search(settings)
    local = getattr(search_backend, "fallback", search_backend)
    for line in getattr(local, "warnings", None) or []:
        journal.note("search.index", line)
        warn(f"yanbao: warning: {line}")
    engine = make_llm(settings, journal, warn)

    store = RunStore(settings.db_path)
    config = {
        "provider": engine.provider,
        "llm_requested": settings.llm,
        "model": engine.model,
        "ollama_host": settings.ollama_host,
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
    run_id = store.start_run(topic, settings.kind, config)
    llm = _Timed(RecordingLLM(engine, store, run_id, use_cache=settings.cache, on_call=on_call))
    search = RecordingSearch(search_backend, store, run_id, use_cache=settings.cache)
    fetcher = None
    if settings.fetch_pages > 0 and settings.search in ("duckduckgo", "auto"):
        from pipeline.search.fetch import Fetcher

        fetcher = Fetcher(allow_private=settings.allow_private, cache=store if settings.cache else None)
    env = StageEnv(
        llm=llm,
        journal=journal,
        prompt_tokens=prompt_budget(settings.num_ctx, settings.num_predict),
        search=search,
        fetcher=fetcher,
        fetch_pages=settings.fetch_pages,
        results_per_query=settings.results_per_query,
    )
    # The extractive engine remembers which sentences it used; running its workers in order keeps the
    # report identical from run to run. It is CPU-bound, so concurrency would buy nothing anyway.
    pool = 1 if engine.provider == "extractive" else settings.concurrency

    try:
        subtopics, _preview = supervisor.plan(env, topic, settings.breadth)
        store.save_step(run_id, "supervisor.plan", subtopics)
        workers, analyses, synth, refs, maps = _run_stages(env, topic, subtopics, settings.max_loops, pool)
        for w in workers:
            store.save_step(run_id, f"research[{w.index}]", w.model_dump())
        for i, a in analyses.items():
            store.save_step(run_id, f"analysis[{i}]", a.model_dump())
        store.save_step(run_id, "synthesis", synth.model_dump())
    except (LLMError, SearchError) as exc:
        store.finish_run(run_id, "failed", error=str(exc))
        raise RunFailed(str(exc)) from None

    for d in getattr(search_backend, "degraded", None) or []:  # auto search fell back to local
        journal.degrade(d.get("step", "search"), d["reason"])
    body = _render_body(settings, topic, engine, search, workers, analyses, maps, synth, refs, journal)
    body, checks = check_facts(settings, body, refs, journal)
    report = body.rstrip("\n") + "\n\n" + render("partials/data_check.md.j2", checks=checks)

    stem = f"{date.today().isoformat()}-{slugify(topic)}"
    report_path = settings.out / f"{stem}.md"
    manifest_path = settings.out / f"{stem}.run.json"
    manifest = build_manifest(
        store, run_id, topic, settings, config, workers, journal, env, checks, llm, time.perf_counter() - started
    )
    manifest["report"] = str(report_path)
    import json

    write_atomic(report_path, report)
    write_atomic(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    store.finish_run(run_id, "done", report_path=str(report_path))
    return RunOutcome(run_id, report_path, manifest_path, manifest, empty=not analyses)


def _render_body(settings, topic, engine, search, workers, analyses, maps, synth, refs, journal) -> str:
    ordered = sorted(workers, key=lambda w: w.index)
    wviews = []
    aviews = []
    for w, mapping in zip(ordered, maps, strict=True):
        wviews.append(
            {
                "index": w.index,
                "subtopic": w.subtopic,
                "summary": renumber(w.summary, mapping),
                "sources": w.sources,
                "missing": next(
                    (d["reason"] for d in journal.degraded if d["step"].startswith(f"research[{w.index}]")),
                    "未找到相关资料",
                ),
            }
        )
        a = analyses.get(w.index)
        view: dict = {"index": w.index, "subtopic": w.subtopic, "skipped": None}
        if a is None:
            view["skipped"] = f"子主题“{w.subtopic}”没有找到相关资料，未做分析"
        else:
            for name, _ in analysis.SLOTS:
                value = getattr(a, name)
                view[name] = map_strings(value, lambda s, m=mapping: renumber(s, m)) if value is not None else None
            view["why"] = _why(journal, f"analysis[{w.index}]", tuple(n for n, _ in analysis.SLOTS))
        aviews.append(view)
    return render(
        "research.md.j2",
        topic=topic,
        provider=engine.provider,
        model=engine.model,
        engine=_engine_label(search),
        max_loops=settings.max_loops,
        notices=sorted(journal.degraded, key=lambda d: d["step"]),
        manifest_name="run.json",
        workers=wviews,
        analyses=aviews,
        synthesis=synth,
        synthesis_why=_why(journal, "synthesis", tuple(n for n, _ in synthesis.SLOTS)),
        references=refs,
    )


def build_manifest(store, run_id, topic, settings, config, workers, journal, env, checks, llm, total_s) -> dict:
    calls = store.calls(run_id)
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
            "completion_tokens": sum(c["completion_tokens"] for c in llm_calls),
            "seconds": round(sum(c["seconds"] for c in llm_calls), 3),
            "cache_hits": sum(1 for c in llm_calls if c["outcome"] == "cached"),
            "repairs": sum(1 for c in llm_calls if c["outcome"] == "repaired"),
            "failures": sum(1 for c in llm_calls if c["outcome"] in ("degraded", "error")),
        },
        "search": {
            "calls": len(search_calls),
            "results": sum(c["results"] for c in search_calls),
            "errors": sum(1 for c in search_calls if c["outcome"] == "error"),
            "cache_hits": sum(1 for c in search_calls if c["outcome"] == "cached"),
            "fetch_errors": env.extras.get("fetch_errors", []),
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
