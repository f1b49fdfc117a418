"""The search protocol and its error type.

Backends return `SearchResult`s and raise `SearchError` with a `kind` so the caller can tell a dead
network (fail fast, or fall back to the local corpus under `auto`) from a rate limit (back off).
Caching and logging wrap a backend from outside (`pipeline.run.store.RecordingSearch`).
"""

from __future__ import annotations

from typing import Literal, Protocol

from pipeline.models import SearchResult

ErrorKind = Literal["network", "ratelimit", "timeout", "empty", "config", "other"]


class SearchError(Exception):
    def __init__(self, message: str, kind: ErrorKind = "other") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class Search(Protocol):
    engine: str  # the backend's name, as recorded in run.json and the report: never compared by callers

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]: ...

    def cache_identity(self) -> dict:
        """What, besides the query, determines the answer (engine, region, corpus version)."""
        ...
