"""The search and fetch protocols and the search error type.

Backends return `SearchResult`s and raise `SearchError` with a `kind` so the caller can tell a dead
network (fail fast, or fall back to the local corpus under `auto`) from a rate limit (back off).
Caching and logging wrap a backend from outside (`pipeline.run.store.RecordingSearch`).

Stages see the run's search and fetcher through `StepSearch` and `Fetcher`: every call names its step,
so the run store can say which step searched or read what. The recording wrappers of `pipeline.run.store`
implement them; so does the HTTP fetcher itself (it ignores the step: it records nothing), and so can a
test's fake, without knowing about the run store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from pipeline.models import JSONObject, SearchResult

if TYPE_CHECKING:  # importing this module must stay cheap: the fetcher's module loads httpx
    from pipeline.search.fetch import FetchResult

ErrorKind = Literal["network", "ratelimit", "timeout", "empty", "config", "other"]


class SearchError(Exception):
    def __init__(self, message: str, kind: ErrorKind = "other") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class Search(Protocol):
    engine: str  # the backend's name, as recorded in run.json and the report: never compared by callers

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]: ...

    def cache_identity(self) -> JSONObject:
        """What, besides the query, determines the answer (engine, region, corpus version)."""
        ...


class StepSearch(Protocol):
    """The run's search as stages call it (`pipeline.run.store.RecordingSearch`): a backend's answer,
    each call recorded under `step`."""

    @property
    def engine(self) -> str: ...

    def search(self, query: str, max_results: int = 5, step: str = "search") -> list[SearchResult]: ...


class NoSearch:
    """The search of a stage environment built without one (tests of stages that do not search)."""

    engine = "none"

    def search(self, query: str, max_results: int = 5, step: str = "search") -> list[SearchResult]:
        raise SearchError("this run has no search engine", kind="config")


class Fetcher(Protocol):
    """Reads pages. Never raises for a page that cannot be read: the result's `error` says why.

    `pipeline.search.fetch.Fetcher` reads them over HTTP; `pipeline.run.store.RecordingFetcher` wraps any
    fetcher and records every page read in the run store under `step`."""

    def fetch(self, url: str, step: str = "fetch") -> FetchResult: ...

    def fetch_many(self, urls: list[str], step: str = "fetch") -> list[FetchResult]:
        """Results in the order of `urls`."""
        ...
