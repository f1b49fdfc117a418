"""Supervisor: split the topic into sub-topics, and judge whether the research covered them.

The plan is grounded in a preview search of the whole topic, so that the sub-topics are ones the
search backend can actually find material for.
"""

from __future__ import annotations

import re

from pipeline.models import Doc, Plan, SearchResult, TaskContext, WorkerResult
from pipeline.prompting import StageEnv, ask
from pipeline.search.base import SearchError


def _clean(subtopics: list[str], breadth: int) -> list[str]:
    out: list[str] = []
    for s in subtopics:
        s = re.sub(r"\s+", " ", re.sub(r"^[\d.、)\-*\s]+", "", s)).strip()[:60]
        if s and s not in out:
            out.append(s)
    return out[:breadth]


def plan(env: StageEnv, topic: str, breadth: int) -> tuple[list[str], list[SearchResult]]:
    step = "supervisor.plan"
    preview: list[SearchResult] = []
    try:
        preview = env.search.search(topic, env.results_per_query, step="supervisor.preview")
    except SearchError as exc:
        if exc.kind == "network":
            raise
        env.journal.degrade("supervisor.preview", f"preview search failed: {exc}")
    docs = [
        Doc(ref=i, source_id=r.id, title=r.title, url=r.url, text=r.text) for i, r in enumerate(preview, start=1)
    ]
    value = ask(
        env,
        kind="plan",
        step=step,
        schema=Plan,
        context=TaskContext(topic=topic, breadth=breadth, documents=docs),
        prompt="plan",
        variables={"topic": topic, "breadth": breadth, "documents": docs},
    )
    subtopics = _clean(value.subtopics, breadth) if value else []
    if not subtopics:
        env.journal.degrade(step, "no usable sub-topics; the topic is researched as a whole")
        subtopics = [topic]
    env.journal.progress(f"计划 {len(subtopics)} 个子主题：" + "；".join(subtopics))
    return subtopics, preview


def review(env: StageEnv, workers: list[WorkerResult]) -> list[WorkerResult]:
    """Coverage check: workers that found nothing are named in the journal; returns the ones with material."""
    usable = []
    for w in workers:
        if not w.sources or not w.summary.strip():
            env.journal.degrade(
                f"research[{w.index}]", f"no material found for sub-topic “{w.subtopic}”; its analysis is skipped"
            )
        else:
            usable.append(w)
    return usable
