"""Synthesis: the final report's slots (executive summary, detailed analysis, key findings, advice),
written across all research results with the report's global reference numbers."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from pipeline.kinds.citations import cited, renumber
from pipeline.kinds.prompting import StageEnv, ask, settle_repeats, slot_prompts
from pipeline.kinds.research.slots import Advice, DetailedAnalysis, ExecutiveSummary, KeyFindings, Synthesis
from pipeline.kinds.slotcheck import Seen, seen_in, sentences
from pipeline.models import Doc, SearchResult, TaskContext, WorkerResult

SLOTS: tuple[tuple[str, type[BaseModel]], ...] = (("summary", ExecutiveSummary), ("details", DetailedAnalysis), ("findings", KeyFindings), ("advice", Advice))
TITLES = {"summary": "执行摘要", "details": "详细分析", "findings": "关键发现", "advice": "结论和建议"}


@dataclass
class Material:
    """What every synthesis slot sees: the worker summaries (global citation numbers) and all sources."""

    notes: dict[str, str]
    docs: list[Doc]


def material(workers: list[WorkerResult], refs: list[SearchResult], maps: list[dict[int, int]]) -> Material:
    ordered = sorted(workers, key=lambda w: w.index)
    notes = {
        f"研究结果 {w.index}：{w.subtopic}": renumber(w.summary, mapping)
        for w, mapping in zip(ordered, maps, strict=True)
        if w.summary.strip()
    }
    docs = [Doc(ref=i, source_id=s.id, title=s.title, url=s.url, text=s.text) for i, s in enumerate(refs, start=1)]
    return Material(notes, docs)


def synthesize_slot(env: StageEnv, topic: str, mat: Material, name: str) -> BaseModel | None:
    schema = dict(SLOTS)[name]
    spec = slot_prompts()[f"synthesis.{name}"]
    env.journal.progress(f"综合 · {name}")
    return ask(
        env, kind=f"synthesis.{name}", step=f"synthesis.{name}", schema=schema,
        context=TaskContext(topic=topic, notes=mat.notes, documents=mat.docs), prompt="synthesis",
        variables={"topic": topic, "notes": mat.notes, "query": topic, "instruction": spec["instruction"],
                   "shape": spec["shape"], "documents_for_block": mat.docs},
        post=cited(mat.docs),
    )


def settle(env: StageEnv, analyses: list[tuple[str, BaseModel | None]]) -> Synthesis:
    """The synthesis slots once all are filled: none may repeat an analysis point (`analyses`: how the
    report names each analysis slot, its value) or an earlier synthesis slot, and the details and the
    advice may not copy a sentence of the executive summary (the key findings may: they distill it)."""
    earlier = [s for where, value in analyses for s in seen_in(value, where)]
    answer = env.answers.get("synthesis.summary")
    first = answer.value if answer is not None and isinstance(answer.value, ExecutiveSummary) else None
    summary = [Seen("执行摘要", s) for s in sentences(first.text)] if first else []
    order = [(f"synthesis.{n}", TITLES[n], earlier + ([] if n == "findings" else summary)) for n, _ in SLOTS[1:]]
    final = settle_repeats(env, order)
    return Synthesis(summary=first,
                     **{n: final.get(f"synthesis.{n}") for n, _ in SLOTS[1:]})


def synthesize(
    env: StageEnv, topic: str, workers: list[WorkerResult], refs: list[SearchResult], maps: list[dict[int, int]],
    analyses: list[tuple[str, BaseModel | None]] | None = None,
) -> Synthesis:
    mat = material(workers, refs, maps)
    for name, _ in SLOTS:
        synthesize_slot(env, topic, mat, name)
    return settle(env, analyses or [])
