"""Drives an engine through the full stage contract (plan -> research loops -> analyses -> syntheses) the
way the pipeline does, without the pipeline: an in-memory search over a corpus, worker-local reference
numbers, global numbers for the synthesis. Every call and its completion is recorded for assertions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline import kinds
from pipeline.kinds.research.slots import (
    Advice,
    Assessment,
    DetailedAnalysis,
    ExecutiveSummary,
    Findings,
    KeyFindings,
    Outlook,
    Plan,
    Query,
    Reflection,
    RunningSummary,
    Trends,
)
from pipeline.llm.base import Completion, Task
from pipeline.models import Doc, TaskContext
from pipeline.text import tokens

ANALYSES = (
    ("analysis.findings", Findings),
    ("analysis.trends", Trends),
    ("analysis.assessment", Assessment),
    ("analysis.outlook", Outlook),
    ("analysis.advice", Advice),
)
SYNTHESES = (
    ("synthesis.summary", ExecutiveSummary),
    ("synthesis.details", DetailedAnalysis),
    ("synthesis.findings", KeyFindings),
    ("synthesis.advice", Advice),
)
# The research kind's handlers reach the extractive engine through the kinds registry.
kinds.get("research")
_REF = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Call:
    step: str
    kind: str
    context: TaskContext
    completion: Completion


@dataclass
class Worker:
    index: int
    subtopic: str
    queries: list[str] = field(default_factory=list)
    sources: list[Doc] = field(default_factory=list)  # refs are the worker's own numbers
    summary: str = ""


@dataclass
class Run:
    calls: list[Call] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    global_docs: list[Doc] = field(default_factory=list)

    def of(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]


def search(corpus: list[Doc], query: str, k: int) -> list[Doc]:
    """Token-overlap ranking, ties by corpus order: deterministic and good enough to route documents."""
    q = set(tokens(query))
    scored = []
    for i, d in enumerate(corpus):
        overlap = len(q & set(tokens(d.title + " " + d.text)))
        if overlap:
            scored.append((-overlap, i, d))
    return [d for _, _, d in sorted(scored, key=lambda t: (t[0], t[1]))[:k]]


def ask(engine, run: Run, step: str, kind: str, schema, ctx: TaskContext) -> Completion:
    done = engine.complete(Task(step=step, kind=kind, schema=schema, messages=[], context=ctx))
    run.calls.append(Call(step, kind, ctx, done))
    return done


def drive(engine, topic: str, corpus: list[Doc], breadth: int = 2, loops: int = 2, per_query: int = 3) -> Run:
    run = Run()
    preview = [d.model_copy(update={"ref": i}) for i, d in enumerate(search(corpus, topic, 5), start=1)]
    plan = ask(engine, run, "supervisor.plan", "plan", Plan, TaskContext(topic=topic, breadth=breadth, documents=preview))
    subtopics = plan.value.subtopics if plan.value else [topic]
    for index, sub in enumerate(subtopics, start=1):
        w = Worker(index, sub)
        follow = ""
        for loop in range(1, loops + 1):
            step = f"research[{index}].loop{loop}"
            ctx = TaskContext(topic=topic, subtopic=sub, loop=loop, summary=w.summary, queries=list(w.queries))
            if loop == 1:
                q = ask(engine, run, f"{step}.query", "query", Query, ctx)
                query = q.value.query if q.value else sub
            else:
                query = follow or sub
            w.queries.append(query)
            known = {d.source_id for d in w.sources}
            new = [d for d in search(corpus, query, per_query + len(known)) if d.source_id not in known][:per_query]
            docs = [d.model_copy(update={"ref": len(w.sources) + i}) for i, d in enumerate(new, start=1)]
            w.sources.extend(docs)
            if docs:
                ctx = TaskContext(topic=topic, subtopic=sub, loop=loop, summary=w.summary, queries=list(w.queries),
                                  documents=docs)
                s = ask(engine, run, f"{step}.summarize", "summarize", RunningSummary, ctx)
                if s.value:  # the summary's new paragraph, appended as the research worker does
                    w.summary = f"{w.summary.rstrip()}\n\n{s.value.summary}" if w.summary.strip() else s.value.summary
            if loop < loops:
                ctx = TaskContext(topic=topic, subtopic=sub, loop=loop, summary=w.summary, queries=list(w.queries),
                                  documents=list(w.sources))
                r = ask(engine, run, f"{step}.reflect", "reflect", Reflection, ctx)
                follow = r.value.follow_up_query if r.value else ""
        run.workers.append(w)
    for w in run.workers:
        ctx = TaskContext(topic=topic, subtopic=w.subtopic, summary=w.summary, documents=list(w.sources))
        for kind, schema in ANALYSES:
            ask(engine, run, f"analysis[{w.index}].{kind.split('.')[1]}", kind, schema, ctx)
    # Global numbering in order of first use, summaries renumbered, as the synthesis stage does.
    index: dict[str, int] = {}
    notes: dict[str, str] = {}
    for w in run.workers:
        mapping = {}
        for d in w.sources:
            if d.source_id not in index:
                index[d.source_id] = len(index) + 1
                run.global_docs.append(d.model_copy(update={"ref": index[d.source_id]}))
            mapping[d.ref] = index[d.source_id]
        if w.summary:
            notes[f"研究结果 {w.index}：{w.subtopic}"] = _REF.sub(lambda m, mp=mapping: f"[{mp[int(m.group(1))]}]", w.summary)
    ctx = TaskContext(topic=topic, notes=notes, documents=list(run.global_docs))
    for kind, schema in SYNTHESES:
        ask(engine, run, kind, kind, schema, ctx)
    return run


def strings(value) -> list[str]:
    """Every string inside a slot value (titles included)."""
    out: list[str] = []

    def walk(v) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value.model_dump() if value is not None else None)
    return out


def cited_sentences(text: str) -> list[tuple[str, int]]:
    """(sentence, ref) pairs of engine output: every sentence is followed by its [ref]."""
    out = []
    pos = 0
    for m in _REF.finditer(text):
        out.append((text[pos : m.start()].strip(), int(m.group(1))))
        pos = m.end()
    assert not text[pos:].strip(), f"text after the last citation: {text[pos:]!r}"
    return out
