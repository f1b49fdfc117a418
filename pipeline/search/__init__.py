"""Search backends behind one small protocol (`pipeline.search.base.Search`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the package must stay cheap: `yanbao --help` loads a module under it
    from pipeline.search.base import Search

ENGINES = ("duckduckgo", "local", "auto")

__all__ = ["ENGINES", "Search", "SearchError", "make_search"]


def __getattr__(name: str) -> object:
    if name in ("Search", "SearchError"):
        from pipeline.search import base

        return getattr(base, name)
    raise AttributeError(name)


def make_search(
    engine: str,
    *,
    sources: Path,
    index_path: Path,
    region: str = "cn-zh",
    timeout_s: float = 10.0,
) -> Search:
    """Build the backend named `engine`.

    Backends are imported here, not at module level, so importing `pipeline.search` stays cheap. Under
    "auto" a missing or empty sources folder does not stop a run that may well have network: the
    search works without a fallback and says why when DuckDuckGo then fails.
    """
    if engine == "duckduckgo":
        from pipeline.search.duckduckgo import DuckDuckGoSearch

        return DuckDuckGoSearch(region=region, timeout_s=timeout_s)
    if engine == "local":
        from pipeline.search.local import LocalSearch

        return LocalSearch(Path(sources), Path(index_path))
    if engine == "auto":
        from pipeline.search.auto import AutoSearch
        from pipeline.search.base import SearchError
        from pipeline.search.duckduckgo import DuckDuckGoSearch
        from pipeline.search.local import LocalSearch

        primary = DuckDuckGoSearch(region=region, timeout_s=timeout_s)
        try:
            fallback: Search | None = LocalSearch(Path(sources), Path(index_path))
            reason = ""
        except SearchError as exc:
            if exc.kind not in ("config", "empty"):
                raise
            logging.getLogger("yanbao.search").warning("auto search without local fallback: %s", exc)
            fallback, reason = None, str(exc)
        return AutoSearch(primary, fallback, fallback_error=reason)
    raise ValueError(f"unknown search engine {engine!r}; valid engines: {', '.join(ENGINES)}")
