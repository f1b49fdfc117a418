"""The two types between the runner and a report kind: what a kind gets, and what it gives back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.config import Settings
from pipeline.kinds.prompting import StageEnv
from pipeline.llm.base import LLM
from pipeline.models import SearchResult, WorkerResult
from pipeline.run.store import RunStore
from pipeline.run.verify import Verifier


@dataclass
class RunContext:
    """Everything a kind's `compose` may use. Built by the runner for one run."""

    topic: str
    settings: Settings
    env: StageEnv  # llm, search, fetcher, journal, prompt budget
    engine: LLM  # the engine behind env.llm (which records it): its provider and model for header fields
    store: RunStore  # where a kind saves its steps (a resumed run loads them back)
    run_id: str
    verifier: Verifier  # the run's facts check: for kinds that need verified figures while composing
    pool_size: int = 1
    # Every topic of a batch (commentary articles, digest items), `topic` being the first; [] = just `topic`.
    topics: list[str] = field(default_factory=list)
    day: str = ""  # the run's day (YYYY-MM-DD): kept by a resumed run, used for dated lines in reports


class KindFailed(Exception):
    """A kind cannot write any report at all (e.g. no digest item had material). One line; exit 1."""


@dataclass(frozen=True)
class Rated:
    """What a kind computes from the report's facts check: values for its template (they replace the
    context's) and fields for run.json (added after the kind's `Composed.manifest`)."""

    context: dict[str, object]
    manifest: dict[str, object]
    # The characters the new values change in the text, in fields of fixed width (the digest's ★☆):
    # then the check of the report before them holds for the report with them, and it is not checked again.
    marks: str = ""


class Rating(Protocol):
    """A kind's fields that depend on the report's facts check (the digest's credibility stars).

    The runner renders the report, checks it once, counts the claims of each status in each section
    of the report (where the template wrote `{{ section() }}`, in order), and gives the counts to
    `rate`; what it returns is rendered in. The kind never sees the markdown."""

    def rate(self, sections: list[Counter[str]]) -> Rated: ...


@dataclass
class Composed:
    """A kind's result: the template and its context, the sources used (for the facts import and the
    manifest), and an optional `rating` for fields that depend on the check (the digest's stars)."""

    template: str
    context: dict[str, object]
    refs: list[SearchResult]
    workers: list[WorkerResult] = field(default_factory=list)
    empty: bool = False
    rating: Rating | None = None
    manifest: dict[str, object] = field(default_factory=dict)  # extra, kind-specific manifest fields
    # Text the kind writes from its own constants (headings such as 第一部分：技术深度解析（40%）): like the
    # template's literal text, never a claim (`pipeline.run.verify.template_spans`).
    literals: tuple[str, ...] = ()
