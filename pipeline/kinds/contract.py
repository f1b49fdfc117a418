"""The two types between the runner and a report kind: what a kind gets, and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Settings
from pipeline.kinds.prompting import StageEnv
from pipeline.models import SearchResult, WorkerResult


@dataclass
class RunContext:
    """Everything a kind's `compose` may use. Built by the runner for one run."""

    topic: str
    settings: Settings
    env: StageEnv  # llm, search, fetcher, journal, prompt budget
    engine: Any  # the engine behind env.llm (provider, model) for header fields
    store: Any  # pipeline.run.store.RunStore
    run_id: str
    verifier: Any  # pipeline.run.verify.Verifier: for kinds that need verified figures while composing
    pool_size: int = 1
    # Every topic of a batch (commentary articles, digest items), `topic` being the first; [] = just `topic`.
    topics: list[str] = field(default_factory=list)
    day: str = ""  # the run's day (YYYY-MM-DD): kept by a resumed run, used for dated lines in reports


class KindFailed(Exception):
    """A kind cannot write any report at all (e.g. no digest item had material). One line; exit 1."""


@dataclass
class Composed:
    """A kind's result: the template and its context, the sources used (for the facts import and the
    manifest), and an optional `finalize(body, checks) -> body` for fields that depend on the check
    (e.g. the digest's credibility stars)."""

    template: str
    context: dict
    refs: list[SearchResult]
    workers: list[WorkerResult] = field(default_factory=list)
    empty: bool = False
    finalize: Callable[[str, dict], str] | None = None
    manifest: dict = field(default_factory=dict)  # extra, kind-specific manifest fields
    # Text the kind writes from its own constants (headings such as 第一部分：技术深度解析（40%）): like the
    # template's literal text, never a claim (`pipeline.run.verify.template_spans`).
    literals: tuple[str, ...] = ()
