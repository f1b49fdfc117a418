"""What the digest and commentary kinds share: batch topics, gathering material, filling one slot.

The research kind has its own stages; these two kinds are simpler (one search per item, then a fixed
set of small slots over the same sources), so their plumbing lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel

from pipeline.kinds.citations import cited
from pipeline.kinds.contract import RunContext
from pipeline.kinds.prompting import Journal, StageEnv, ask, settle_repeats, slot_prompts
from pipeline.models import Doc, SearchResult, TaskContext
from pipeline.search.base import SearchError

TOPICS_STEP = "run.topics"

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


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
    from pipeline.kinds.research.worker import read_pages

    env.journal.progress(f"检索：{query}")
    try:
        results = env.search.search(query, env.results_per_query, step=step)
    except SearchError as exc:
        if exc.kind in ("network", "config"):
            raise
        env.journal.degrade(step, f"search failed ({exc.kind}): {exc}")
        return []
    read_pages(env, step, results)
    return results


def docs_of(sources: list[SearchResult]) -> list[Doc]:
    """Sources as the slots see them: `ref` n is the item's citation number [n]."""
    return [Doc(ref=i, source_id=s.id, title=s.title, url=s.url, text=s.text) for i, s in enumerate(sources, start=1)]


def fill(
    env: StageEnv,
    *,
    kind: str,
    step: str,
    schema: type[M],
    topic: str,
    docs: list[Doc],
    prompt: str,
    variables: dict[str, object],
    subtopic: str = "",
    queries: list[str] | None = None,
) -> M | None:
    """Fill one slot (`kind` is also the key of its instruction in prompts/slots.yaml); citations that
    point to no source are removed. None (journaled) when the engine could not fill it."""
    spec = slot_prompts()[kind]
    ctx = TaskContext(topic=topic, subtopic=subtopic, documents=docs, queries=list(queries or []))
    # Small models copy the JSON example (标题, 要点): `ask`'s content checks reject that (pipeline.kinds.slotcheck).
    return ask(
        env, kind=kind, step=step, schema=schema, context=ctx, prompt=prompt,
        variables={"query": subtopic or topic, **variables, "instruction": spec["instruction"],
                   "shape": spec["shape"], "documents_for_block": docs},
        post=cited(docs),
    )


def settle(env: StageEnv, step: str, names: list[str], values: dict[str, BaseModel | None],
           titles: dict[str, str]) -> dict[str, BaseModel | None]:
    """The slots `names` of one item or article (steps `<step>.<name>`), in reading order, once all are
    filled: none may repeat an earlier one (`pipeline.kinds.prompting.settle_repeats`). Returns `values` with
    the final answers."""
    def label(name: str) -> str:  # section[2] → 正文小节2
        base, _, index = name.partition("[")
        return titles.get(base, base) + index.rstrip("]")

    final = settle_repeats(env, [(f"{step}.{n}", label(n), []) for n in names])
    return {**values, **{n: final[f"{step}.{n}"] for n in names if f"{step}.{n}" in final}}


def run_slots(pool_size: int, calls: list[tuple[str, Callable[[], R]]]) -> dict[str, R]:
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


class ReferenceRow(TypedDict):
    """One line of a report's reference list, as the templates read it."""

    n: int
    publisher: str
    title: str
    url: str
    date: str


def reference_rows(sources: list[SearchResult]) -> list[ReferenceRow]:
    """The reference list, numbered by code in the order the slots saw the sources."""
    return [
        ReferenceRow(n=i, publisher=publisher_of(s), title=s.title, url=s.url, date=s.date)
        for i, s in enumerate(sources, start=1)
    ]
