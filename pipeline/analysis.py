"""Analysis: one per research result, five small slots (findings, trends, assessment, outlook, advice).

Each slot is its own call so a small model only has to produce a short JSON object, and a failed slot
costs that slot alone (the report says which one failed and why).
"""

from __future__ import annotations

from pipeline.citations import keep_valid, map_strings
from pipeline.models import (
    Advice,
    Analysis,
    Assessment,
    Doc,
    Findings,
    Outlook,
    TaskContext,
    Trends,
    WorkerResult,
)
from pipeline.prompting import StageEnv, ask, slot_prompts

SLOTS = (("findings", Findings), ("trends", Trends), ("assessment", Assessment), ("outlook", Outlook), ("advice", Advice))


def worker_docs(w: WorkerResult) -> list[Doc]:
    return [
        Doc(ref=i, source_id=s.id, title=s.title, url=s.url, text=s.text) for i, s in enumerate(w.sources, start=1)
    ]


def analyze_slot(env: StageEnv, topic: str, w: WorkerResult, name: str):
    """Fill one analysis slot for one research result (slots are independent, so they can run in parallel)."""
    schema = dict(SLOTS)[name]
    docs = worker_docs(w)
    spec = slot_prompts()[f"analysis.{name}"]
    env.journal.progress(f"分析 {w.index} · {name}")
    value = ask(
        env, kind=f"analysis.{name}", step=f"analysis[{w.index}].{name}", schema=schema,
        context=TaskContext(topic=topic, subtopic=w.subtopic, summary=w.summary, documents=docs),
        prompt="analysis",
        variables={"topic": topic, "subtopic": w.subtopic, "summary": w.summary, "query": w.subtopic,
                   "instruction": spec["instruction"], "shape": spec["shape"], "documents_for_block": docs},
    )
    if value is not None:
        valid = {d.ref for d in docs}
        value = map_strings(value, lambda s: keep_valid(s, valid)[0])
    return value


def analyze(env: StageEnv, topic: str, w: WorkerResult) -> Analysis:
    return Analysis(**{name: analyze_slot(env, topic, w, name) for name, _ in SLOTS})
