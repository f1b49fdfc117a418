"""Supervisor: split the topic into sub-topics, and judge whether the research covered them.

The plan is grounded in a preview search of the whole topic, so that the sub-topics are ones the
search backend can actually find material for.
"""

from __future__ import annotations

import re

from pipeline.kinds.prompting import StageEnv, ask, echoes, prompt_labels
from pipeline.kinds.research.slots import Plan
from pipeline.models import Doc, SearchResult, TaskContext, WorkerResult
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
    proposed = value.subtopics if value else []
    echoed = [s for s in proposed if echoes(s, prompt_labels("plan", Plan), topic)]
    if echoed:  # `子主题1`: a base model copying the prompt's example, not a sub-topic to research
        env.journal.note(step, "sub-topics that only echo the prompt's labels dropped: " + "、".join(echoed))
    subtopics = _clean([s for s in proposed if s not in echoed], breadth)
    if not subtopics:
        env.journal.degrade(step, "no usable sub-topics; the topic is researched as a whole")
        subtopics = [topic]
    env.journal.progress(f"计划 {len(subtopics)} 个子主题：" + "；".join(subtopics))
    return subtopics, preview


def review(env: StageEnv, workers: list[WorkerResult]) -> list[WorkerResult]:
    """Coverage check: workers without a summary are named in the journal; returns the ones with material."""
    usable = []
    for w in workers:
        if not w.sources:
            env.journal.degrade(
                f"research[{w.index}]", f"no material found for sub-topic “{w.subtopic}”; its analysis is skipped"
            )
        elif not w.summary.strip():  # found, but nothing was written from it: not "no material"
            env.journal.degrade(
                f"research[{w.index}]",
                f"{len(w.sources)} source(s) found for sub-topic “{w.subtopic}” but no summary was written "
                "from them; its analysis is skipped",
            )
        else:
            usable.append(w)
    return usable
