"""What the digest and commentary kinds share: batch topics, gathering material, filling one slot.

The research kind has its own stages; these two kinds are simpler (one search per item, then a fixed
set of small slots over the same sources), so their plumbing lives here once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from pipeline.citations import keep_valid, map_strings
from pipeline.models import Doc, SearchResult, TaskContext
from pipeline.prompting import Journal, StageEnv, ask, slot_prompts
from pipeline.runner_types import RunContext
from pipeline.search.base import SearchError

TOPICS_STEP = "run.topics"


def batch_topics(run: RunContext) -> list[str]:
    """The run's topics in order. They are saved in the run store, so a resumed batch (which the
    runner only knows by its first topic) gets all of them back."""
    saved = run.store.load_step(run.run_id, TOPICS_STEP)
    topics = list(run.topics) or (saved if isinstance(saved, list) and saved else [run.topic])
    if topics != saved:
        run.store.save_step(run.run_id, TOPICS_STEP, topics)
    return topics


def search_material(env: StageEnv, query: str, step: str) -> list[SearchResult]:
    """One search, handled as the research worker does: a dead network or a bad configuration stops
    the run; any other search failure is journaled and yields no results. Web hits get their pages read."""
    from pipeline.research import _read_pages

    env.journal.progress(f"检索：{query}")
    try:
        results = env.search.search(query, env.results_per_query, step=step)
    except SearchError as exc:
        if exc.kind in ("network", "config"):
            raise
        env.journal.degrade(step, f"search failed ({exc.kind}): {exc}")
        return []
    _read_pages(env, step, results)
    return results


def docs_of(sources: list[SearchResult]) -> list[Doc]:
    """Sources as the slots see them: `ref` n is the item's citation number [n]."""
    return [Doc(ref=i, source_id=s.id, title=s.title, url=s.url, text=s.text) for i, s in enumerate(sources, start=1)]


def fill(
    env: StageEnv,
    *,
    kind: str,
    step: str,
    schema: type[BaseModel],
    topic: str,
    docs: list[Doc],
    prompt: str,
    variables: dict[str, Any],
    subtopic: str = "",
    queries: list[str] | None = None,
) -> Any:
    """Fill one slot (`kind` is also the key of its instruction in prompts/slots.yaml); citations that
    point to no source are removed. None (journaled) when the engine could not fill it."""
    spec = slot_prompts()[kind]
    ctx = TaskContext(topic=topic, subtopic=subtopic, documents=docs, queries=list(queries or []))
    value = ask(
        env, kind=kind, step=step, schema=schema, context=ctx, prompt=prompt,
        variables={"query": subtopic or topic, **variables, "instruction": spec["instruction"],
                   "shape": spec["shape"], "documents_for_block": docs},
    )
    if value is not None:
        echoed = sorted(placeholders(spec["shape"]) & set(_strings(value.model_dump())))
        if echoed:  # small models copy the JSON example: that is no answer, say so instead of printing it
            env.journal.degrade(step, f"the model copied the example output ({'、'.join(echoed)}) instead of answering")
            return None
        valid = {d.ref for d in docs}
        value = map_strings(value, lambda s: keep_valid(s, valid)[0])
    return value


def placeholders(shape: str) -> set[str]:
    """The example values of a slot's JSON shape ("标题", "要点" …), not its keys."""
    values = set()
    for m in re.finditer(r'"([^"]*)"', shape):
        if not re.match(r"\s*:", shape[m.end():]) and m.group(1).strip():
            values.add(m.group(1).strip())
    return values


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def run_slots(pool_size: int, calls: list[tuple[str, Callable[[], Any]]]) -> dict[str, Any]:
    """Run independent slot calls: in the given order with one thread (the extractive engine relies on
    it), else side by side on `pool_size` threads."""
    if pool_size <= 1 or len(calls) <= 1:
        return {name: fn() for name, fn in calls}
    with ThreadPoolExecutor(max_workers=min(pool_size, len(calls)), thread_name_prefix="yanbao") as pool:
        futures = {name: pool.submit(fn) for name, fn in calls}
        try:
            return {name: f.result() for name, f in futures.items()}
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def why(journal: Journal, step: str, default: str = "无可用资料") -> str:
    """The journaled reason a slot is missing."""
    for d in journal.degraded:
        if d["step"] == step:
            return d["reason"]
    return default


def publisher_of(src: SearchResult) -> str:
    """The publisher to name: the source's own field, else the web host, else 本地资料."""
    if src.publisher.strip():
        return src.publisher.strip()
    try:
        host = urlsplit(src.url).hostname or ""
    except ValueError:
        host = ""
    if host and src.url.lower().startswith(("http://", "https://")):
        return host[4:] if host.startswith("www.") else host
    return "本地资料"


def reference_rows(sources: list[SearchResult]) -> list[dict]:
    """The reference list, numbered by code in the order the slots saw the sources."""
    return [
        {"n": i, "publisher": publisher_of(s), "title": s.title, "url": s.url, "date": s.date}
        for i, s in enumerate(sources, start=1)
    ]
