"""Synthesis: the final report's slots (executive summary, detailed analysis, key findings, advice),
written across all research results with the report's global reference numbers."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.citations import keep_valid, map_strings, renumber
from pipeline.models import (
    Advice,
    DetailedAnalysis,
    Doc,
    ExecutiveSummary,
    KeyFindings,
    SearchResult,
    Synthesis,
    TaskContext,
    WorkerResult,
)
from pipeline.prompting import StageEnv, ask, slot_prompts

SLOTS = (("summary", ExecutiveSummary), ("details", DetailedAnalysis), ("findings", KeyFindings), ("advice", Advice))


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


def synthesize_slot(env: StageEnv, topic: str, mat: Material, name: str):
    schema = dict(SLOTS)[name]
    spec = slot_prompts()[f"synthesis.{name}"]
    env.journal.progress(f"综合 · {name}")
    value = ask(
        env, kind=f"synthesis.{name}", step=f"synthesis.{name}", schema=schema,
        context=TaskContext(topic=topic, notes=mat.notes, documents=mat.docs), prompt="synthesis",
        variables={"topic": topic, "notes": mat.notes, "query": topic, "instruction": spec["instruction"],
                   "shape": spec["shape"], "documents_for_block": mat.docs},
    )
    if value is not None:
        valid = {d.ref for d in mat.docs}
        value = map_strings(value, lambda s: keep_valid(s, valid)[0])
    return value


def synthesize(
    env: StageEnv, topic: str, workers: list[WorkerResult], refs: list[SearchResult], maps: list[dict[int, int]]
) -> Synthesis:
    mat = material(workers, refs, maps)
    return Synthesis(**{name: synthesize_slot(env, topic, mat, name) for name, _ in SLOTS})
