"""Analysis: one per research result, five small slots (findings, trends, assessment, outlook, advice).

Each slot is its own call so a small model only has to produce a short JSON object, and a failed slot
costs that slot alone (the report says which one failed and why).
"""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.kinds.citations import cited
from pipeline.kinds.prompting import StageEnv, ask, settle_repeats, slot_prompts
from pipeline.kinds.research.slots import Advice, Analysis, Assessment, Findings, Outlook, Trends
from pipeline.kinds.slotcheck import Seen, sentences
from pipeline.models import Doc, TaskContext, WorkerResult

SLOTS: tuple[tuple[str, type[BaseModel]], ...] = (("findings", Findings), ("trends", Trends), ("assessment", Assessment), ("outlook", Outlook), ("advice", Advice))
#: How the report names each slot (templates/research.md.j2), for the reasons of the content checks.
TITLES = {"findings": "关键发现与洞察", "trends": "趋势分析", "assessment": "优缺点评估", "outlook": "未来展望",
          "advice": "实用建议"}


def worker_docs(w: WorkerResult) -> list[Doc]:
    return [
        Doc(ref=i, source_id=s.id, title=s.title, url=s.url, text=s.text) for i, s in enumerate(w.sources, start=1)
    ]


def analyze_slot(env: StageEnv, topic: str, w: WorkerResult, name: str) -> BaseModel | None:
    """Fill one analysis slot for one research result (slots are independent, so they can run in parallel)."""
    schema = dict(SLOTS)[name]
    docs = worker_docs(w)
    spec = slot_prompts()[f"analysis.{name}"]
    env.journal.progress(f"分析 {w.index} · {name}")
    return ask(
        env, kind=f"analysis.{name}", step=f"analysis[{w.index}].{name}", schema=schema,
        context=TaskContext(topic=topic, subtopic=w.subtopic, summary=w.summary, documents=docs),
        prompt="analysis",
        variables={"topic": topic, "subtopic": w.subtopic, "summary": w.summary, "query": w.subtopic,
                   "instruction": spec["instruction"], "shape": spec["shape"], "documents_for_block": docs},
        post=cited(docs),
    )


def label(w: WorkerResult, name: str) -> str:
    return f"分析结果 {w.index}·{TITLES[name]}"


def settle(env: StageEnv, w: WorkerResult) -> Analysis:
    """A worker's five slots once all are filled: none may repeat an earlier one, and none but the
    findings (which distill it) may copy a sentence of the worker's research summary."""
    summary = [Seen(f"研究结果 {w.index} 的摘要", s) for s in sentences(w.summary)]
    order = [(f"analysis[{w.index}].{n}", label(w, n), [] if n == "findings" else summary) for n, _ in SLOTS]
    final = settle_repeats(env, order)
    return Analysis(**{n: final.get(f"analysis[{w.index}].{n}") for n, _ in SLOTS})


def analyze(env: StageEnv, topic: str, w: WorkerResult) -> Analysis:
    for name, _ in SLOTS:
        analyze_slot(env, topic, w, name)
    return settle(env, w)
