"""The `research` kind (主管架构研究报告): supervisor → research workers → analysis → synthesis.

This module schedules the stages on one pool and maps their typed slots onto
`templates/research.md.j2`. Everything around it (engines, stores, facts check, files) is the
runner's job, shared by every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from functools import partial
from typing import TypeVar

from pydantic import BaseModel

from pipeline.kinds import coverage
from pipeline.kinds.citations import map_strings, number_sources, renumber
from pipeline.kinds.contract import Composed, RunContext
from pipeline.kinds.prompting import Journal, StageEnv
from pipeline.kinds.research import analysis, supervisor, synthesis
from pipeline.kinds.research import worker as research
from pipeline.kinds.research.slots import Analysis, Synthesis
from pipeline.models import SearchResult, WorkerResult

TEMPLATE = "research.md.j2"

R = TypeVar("R")
#: What the stages give the view: workers, analyses by worker, the synthesis, references, citation maps.
Stages = tuple[list[WorkerResult], dict[int, Analysis], Synthesis, list[SearchResult], list[dict[int, int]]]


def compose(run: RunContext) -> Composed:
    env, topic, settings = run.env, run.topic, run.settings
    subtopics, preview = supervisor.plan(env, topic, settings.breadth)
    run.store.save_step(run.run_id, "supervisor.plan", subtopics)
    covered = Coverages(env, topic, coverage.coverage(topic, preview))
    if not covered.topic.covered:  # nothing to research: say so, write nothing unrelated (exit 3)
        env.journal.degrade("coverage", covered.why(topic, covered.topic))
        workers = [WorkerResult(index=1, subtopic=topic)]
        covered.sub[1] = covered.topic
        analyses: dict[int, Analysis] = {}
        synth, refs, maps = Synthesis(), list[SearchResult](), [dict[int, int]()]
    else:
        workers, analyses, synth, refs, maps = _run_stages(
            env, topic, subtopics, settings.max_loops, run.pool_size,
            on_worker=lambda w: run.verifier.prefetch(w.sources), covered=covered,
        )
    for w in workers:
        run.store.save_step(run.run_id, f"research[{w.index}]", w.model_dump())
    for i, a in analyses.items():
        run.store.save_step(run.run_id, f"analysis[{i}]", a.model_dump())
    run.store.save_step(run.run_id, "synthesis", synth.model_dump())
    context = _view(run, workers, analyses, maps, synth, refs, covered)
    return Composed(template=TEMPLATE, context=context, refs=refs, workers=workers, empty=not analyses,
                    manifest={"coverage": covered.manifest(workers, empty=not analyses)})


class Coverages:
    """How well the material covers the topic (the plan's preview search) and each sub-topic (its worker's
    sources), decided before anything is written (`pipeline.kinds.coverage`). An uncovered sub-topic is not
    analysed and its sections say so in one line; when none is covered the report is empty (exit 3)."""

    def __init__(self, env: StageEnv, topic: str, whole: coverage.Coverage) -> None:
        self.env = env
        self.topic_text = topic
        self.topic = whole
        self.sub: dict[int, coverage.Coverage] = {}

    @staticmethod
    def why(what: str, cov: coverage.Coverage) -> str:
        return (f"the sources do not cover “{what}” (coverage {cov.score:.2f} < {coverage.THRESHOLD:.2f}); "
                "nothing unrelated is written for it")

    def judge(self, w: WorkerResult) -> bool:
        cov = coverage.subtopic_coverage(self.topic_text, w.subtopic, w.sources) if w.sources else coverage.Coverage(0.0)
        self.sub[w.index] = cov
        if w.sources and not cov.covered:
            self.env.journal.degrade(f"research[{w.index}].coverage", self.why(w.subtopic, cov))
        return cov.covered

    def ok(self, w: WorkerResult) -> bool:
        return self.sub.get(w.index, self.topic).covered

    def verdict(self, workers: list[WorkerResult], empty: bool) -> str:
        if not self.topic.covered:
            return f"the sources do not cover the topic (coverage {self.topic.score:.2f} < {coverage.THRESHOLD:.2f})"
        subs = [self.sub[w.index] for w in workers if w.index in self.sub]
        n = sum(1 for c in subs if c.covered)
        if subs and not n:
            best = max(c.score for c in subs)
            return f"no sub-topic is covered by its material (best {best:.2f} < {coverage.THRESHOLD:.2f})"
        if empty:
            return "no sub-topic yielded a summary to write from"
        return f"{n} of {len(workers)} sub-topics covered"

    def manifest(self, workers: list[WorkerResult], empty: bool = False) -> dict[str, object]:
        return {
            "verdict": self.verdict(workers, empty),
            "threshold": coverage.THRESHOLD,
            "method": "best passage share of the topic's weighted words (pipeline/kinds/coverage.py)",
            "topic": self.topic.to_json(),
            "subtopics": [{"subtopic": w.subtopic, **self.sub.get(w.index, self.topic).to_json()}
                          for w in sorted(workers, key=lambda w: w.index)],
        }


def _shown(workers: list[WorkerResult], covered: Coverages | None) -> list[WorkerResult]:
    """Workers as the report uses them: one whose sub-topic its material does not cover contributes
    neither its summary nor its sources (run.json still lists every source each worker read)."""
    if covered is None:
        return workers
    return [w if covered.ok(w) else w.model_copy(update={"summary": "", "sources": []}) for w in workers]


def _run_stages(env: StageEnv, topic: str, subtopics: list[str], max_loops: int, pool_size: int,
                on_worker: Callable[[WorkerResult], None] | None = None, covered: Coverages | None = None) -> Stages:
    """Research, analysis and synthesis on one pool of `pool_size` threads.

    A worker's five analysis slots are queued the moment its research ends, and the synthesis slots
    run side by side, so no thread idles while another worker is still searching. With one thread
    everything runs in a fixed order (the extractive engine relies on it).
    """
    items = list(enumerate(subtopics, start=1))
    slot_names = [n for n, _ in analysis.SLOTS]
    workers: list[WorkerResult] = []
    analyses: dict[int, Analysis]
    synth: Synthesis | None
    if pool_size <= 1:
        for i, s in items:
            workers.append(research.run_worker(env, topic, i, s, max_loops))
            if on_worker is not None:
                on_worker(workers[-1])
        usable = [w for w in supervisor.review(env, workers) if covered is None or covered.judge(w)]
        analyses = {w.index: analysis.analyze(env, topic, w) for w in usable}
        refs, maps = number_sources(_contributing(_shown(workers, covered)))
        synth = (synthesis.synthesize(env, topic, _shown(workers, covered), refs, maps, _points(usable, analyses))
                 if usable else None)
    else:
        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="yanbao") as pool:
            try:
                pending = [pool.submit(research.run_worker, env, topic, i, s, max_loops) for i, s in items]
                slots: dict[tuple[int, str], Future[BaseModel | None]] = {}
                for fut in as_completed(pending):
                    w = fut.result()
                    workers.append(w)
                    if on_worker is not None:
                        on_worker(w)
                    if supervisor.review(env, [w]) and (covered is None or covered.judge(w)):
                        primed = _primed(pool, {n: partial(analysis.analyze_slot, env, topic, w, n) for n in slot_names})
                        slots.update({(w.index, n): fut for n, fut in primed.items()})
                workers.sort(key=lambda w: w.index)
                usable = [w for w in workers if (w.index, slot_names[0]) in slots]
                for slot in slots.values():
                    slot.result()
                analyses = {w.index: analysis.settle(env, w) for w in usable}
                refs, maps = number_sources(_contributing(_shown(workers, covered)))
                synth = None
                if usable:
                    mat = synthesis.material(_shown(workers, covered), refs, maps)
                    futs = _primed(pool, {n: partial(synthesis.synthesize_slot, env, topic, mat, n) for n, _ in synthesis.SLOTS})
                    for slot in futs.values():
                        slot.result()
                    synth = synthesis.settle(env, _points(usable, analyses))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    if synth is None:
        synth = Synthesis()
        found = any(w.sources for w in workers)  # found but not summarized is not "nothing relevant"
        env.journal.degrade("synthesis", "no sub-topic has a summary; nothing to synthesize" if found
                            else f"nothing relevant to “{topic}” was found in the sources; nothing to synthesize")
    return workers, analyses, synth, refs, maps


def _primed(pool: ThreadPoolExecutor, calls: dict[str, Callable[[], R]]) -> dict[str, Future[R]]:
    """Submit slot calls that share a prompt prefix: the first alone, the others once it is done. The
    server then holds the shared prefix when the others arrive and evaluates only their own part
    (sent together, two slots would each evaluate the whole prompt on two server slots)."""
    names = list(calls)
    first = pool.submit(calls[names[0]])
    out = {names[0]: first}
    for name in names[1:]:
        out[name] = pool.submit(_after, first, calls[name])
    return out


def _after(first: Future[R], fn: Callable[[], R]) -> R:
    first.result()  # its failure (an unreachable server) is this call's too
    return fn()


def _points(usable: list[WorkerResult], analyses: dict[int, Analysis]) -> list[tuple[str, BaseModel | None]]:
    """Each analysis slot as the report names it, with its value: what the synthesis must not repeat."""
    return [(analysis.label(w, n), getattr(analyses[w.index], n)) for w in usable for n, _ in analysis.SLOTS]


def _why(journal: Journal, prefix: str, names: tuple[str, ...]) -> dict[str, str]:
    found = {d["step"]: d["reason"] for d in journal.degraded}
    return {n: found.get(f"{prefix}.{n}", "无可用资料") for n in names}


def _engine_label(search: object) -> str:
    inner = getattr(search, "inner", search)
    degraded = getattr(inner, "degraded", None)
    if degraded:
        return "duckduckgo（不可用，已改用 local）"
    return str(getattr(inner, "engine", "?"))


def _contributing(workers: list[WorkerResult]) -> list[WorkerResult]:
    """Workers as the report lists their sources: one that wrote no summary used none of what it read
    (run.json still lists every source each worker read)."""
    return [w if w.summary.strip() else w.model_copy(update={"sources": []}) for w in workers]


def _view(run: RunContext, workers: list[WorkerResult], analyses: dict[int, Analysis], maps: list[dict[int, int]],
          synth: Synthesis, refs: list[SearchResult], covered: Coverages) -> dict[str, object]:
    journal = run.env.journal
    ordered = sorted(workers, key=lambda w: w.index)
    wviews: list[dict[str, object]] = []
    aviews: list[dict[str, object]] = []
    for w, mapping in zip(ordered, maps, strict=True):
        cov = covered.sub.get(w.index, covered.topic)
        uncovered = (f"资料未覆盖此子主题（覆盖度 {cov.score:.2f}，低于阈值 {coverage.THRESHOLD:.2f}），未写入无关内容"
                     if not cov.covered else "")
        wviews.append(
            {
                "index": w.index,
                "subtopic": w.subtopic,
                "summary": renumber(w.summary, mapping) if not uncovered else "",
                "sources": w.sources if w.summary.strip() and not uncovered else [],
                "missing": uncovered or next(
                    (d["reason"] for d in journal.degraded if d["step"].startswith(f"research[{w.index}]")),
                    "未找到相关资料",
                ),
            }
        )
        a = analyses.get(w.index)
        view: dict[str, object] = {"index": w.index, "subtopic": w.subtopic, "skipped": None}
        if uncovered:
            view["skipped"] = uncovered
        elif a is None:
            view["skipped"] = (f"子主题“{w.subtopic}”检索到 {len(w.sources)} 篇资料，但没有写出摘要，未做分析"
                               if w.sources else f"子主题“{w.subtopic}”没有找到相关资料，未做分析")
        else:
            for name, _ in analysis.SLOTS:
                value = getattr(a, name)
                view[name] = map_strings(value, partial(renumber, mapping=mapping)) if value is not None else None
            view["why"] = _why(journal, f"analysis[{w.index}]", tuple(n for n, _ in analysis.SLOTS))
        aviews.append(view)
    return dict(
        empty=not analyses,
        topic=run.topic,
        provider=run.engine.provider,
        model=run.engine.model,
        engine=_engine_label(run.env.search),
        max_loops=run.settings.max_loops,
        workers=wviews,
        analyses=aviews,
        synthesis=synth,
        synthesis_why=_why(journal, "synthesis", tuple(n for n, _ in synthesis.SLOTS)),
        references=refs,
        coverage=_coverage_view(ordered, covered),
    )


def _coverage_view(workers: list[WorkerResult], covered: Coverages) -> dict[str, object]:
    """For the header: which sub-topics have material, when not all do."""
    rows = [(w.subtopic, covered.sub.get(w.index, covered.topic)) for w in workers]
    return {
        "threshold": f"{coverage.THRESHOLD:.2f}",
        "topic": f"{covered.topic.score:.2f}",
        "partial": any(c.covered for _, c in rows) and not all(c.covered for _, c in rows),
        "with": [f"{s}（{c.score:.2f}）" for s, c in rows if c.covered],
        "without": [f"{s}（{c.score:.2f}）" for s, c in rows if not c.covered and s != covered.topic_text],
    }
