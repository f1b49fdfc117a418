"""AutoSearch fallback and degradation records, and the `make_search` factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.models import SearchResult
from pipeline.search import make_search
from pipeline.search.auto import AutoSearch
from pipeline.search.base import SearchError
from pipeline.search.duckduckgo import DuckDuckGoSearch
from pipeline.search.local import LocalSearch


class Scripted:
    """A backend whose `search` steps through a script of result lists and SearchErrors."""

    def __init__(self, engine: str, script: list) -> None:
        self.engine = engine
        self.script = list(script)
        self.calls: list[str] = []

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        self.calls.append(query)
        step = self.script.pop(0) if self.script else []
        if isinstance(step, BaseException):
            raise step
        return step

    def cache_identity(self) -> dict:
        return {"engine": self.engine}


def result(engine: str, n: int = 1) -> list[SearchResult]:
    return [SearchResult(title=f"{engine}{n}", url=f"https://e.com/{engine}/{n}", engine=engine)]


NETWORK = SearchError("no network: cannot reach DuckDuckGo (DNS lookup failed)", kind="network")
RATELIMIT = SearchError("DuckDuckGo rate limit: still refused after 3 retries", kind="ratelimit")


def test_network_error_falls_back_and_stops_trying_primary() -> None:
    primary = Scripted("duckduckgo", [NETWORK, result("duckduckgo")])
    fallback = Scripted("local", [result("local", 1), result("local", 2), result("local", 3)])
    auto = AutoSearch(primary, fallback)
    assert auto.search("储能") == result("local", 1)
    assert auto.engine == "local"
    assert auto.search("光伏") == result("local", 2)
    assert auto.search("算力") == result("local", 3)
    assert primary.calls == ["储能"]  # never retried after the network error
    assert auto.degraded == [
        {
            "step": "search",
            "reason": "duckduckgo unavailable (no network: cannot reach DuckDuckGo (DNS lookup failed));"
            " answered from local sources",
        }
    ]


def test_ratelimit_falls_back_but_primary_is_tried_again() -> None:
    primary = Scripted("duckduckgo", [RATELIMIT, RATELIMIT, result("duckduckgo")])
    fallback = Scripted("local", [result("local", 1), result("local", 2)])
    auto = AutoSearch(primary, fallback)
    assert auto.search("a") == result("local", 1)
    assert auto.search("b") == result("local", 2)
    assert auto.search("c") == result("duckduckgo")
    assert auto.engine == "duckduckgo"
    assert primary.calls == ["a", "b", "c"]
    assert len(auto.degraded) == 1  # once per distinct cause


def test_distinct_causes_are_each_recorded() -> None:
    timeout = SearchError("DuckDuckGo timed out: no answer within 10 s, 3 retries", kind="timeout")
    primary = Scripted("duckduckgo", [RATELIMIT, timeout, RATELIMIT])
    auto = AutoSearch(primary, Scripted("local", []))
    for q in "abc":
        auto.search(q)
    reasons = [d["reason"] for d in auto.degraded]
    assert len(reasons) == 2
    assert "rate limit" in reasons[0] and "timed out" in reasons[1]
    assert not auto.primary_disabled


@pytest.mark.parametrize("kind", ["other", "config", "empty"])
def test_other_errors_propagate(kind: str) -> None:
    primary = Scripted("duckduckgo", [SearchError("boom", kind=kind)])  # type: ignore[arg-type]
    fallback = Scripted("local", [])
    with pytest.raises(SearchError) as info:
        AutoSearch(primary, fallback).search("q")
    assert info.value.kind == kind and fallback.calls == []


def test_without_fallback_the_error_says_why() -> None:
    auto = AutoSearch(Scripted("duckduckgo", [NETWORK]), None, fallback_error="sources folder not found: x")
    with pytest.raises(SearchError) as info:
        auto.search("q")
    assert info.value.kind == "network"
    assert str(info.value).endswith("; no local fallback: sources folder not found: x")


def test_cache_identity_combines_both() -> None:
    auto = AutoSearch(Scripted("duckduckgo", []), Scripted("local", []))
    assert auto.cache_identity() == {
        "engine": "auto",
        "primary": {"engine": "duckduckgo"},
        "fallback": {"engine": "local"},
    }


def test_auto_with_real_local_fallback(corpus: Path, index_path: Path) -> None:
    primary = Scripted("duckduckgo", [NETWORK])
    auto = AutoSearch(primary, LocalSearch(corpus, index_path))
    results = auto.search("储能 峰谷电价")
    assert results[0].engine == "local" and Path(results[0].path).name == "storage.md"


def test_make_search(corpus: Path, index_path: Path, tmp_path: Path) -> None:
    ddg = make_search("duckduckgo", sources=corpus, index_path=index_path, region="us-en", timeout_s=4)
    assert isinstance(ddg, DuckDuckGoSearch) and (ddg.region, ddg.timeout_s) == ("us-en", 4)
    local = make_search("local", sources=corpus, index_path=index_path)
    assert isinstance(local, LocalSearch) and local.document_count == 5
    auto = make_search("auto", sources=corpus, index_path=index_path)
    assert isinstance(auto, AutoSearch) and isinstance(auto.fallback, LocalSearch)
    assert auto.cache_identity()["primary"]["engine"] == "duckduckgo"

    no_sources = make_search("auto", sources=tmp_path / "missing", index_path=index_path)
    assert isinstance(no_sources, AutoSearch) and no_sources.fallback is None
    assert "sources folder not found" in no_sources.fallback_error

    with pytest.raises(SearchError) as info:
        make_search("local", sources=tmp_path / "missing", index_path=index_path)
    assert info.value.kind == "config"

    with pytest.raises(ValueError, match="duckduckgo, local, auto"):
        make_search("bing", sources=corpus, index_path=index_path)
