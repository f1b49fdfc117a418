"""Engines are chosen by name from the registries (pipeline/run/engines.py): an engine registered from
code, or installed as a package with a `yanbao.engines` / `yanbao.search` entry point, writes a report
by its name, offline, with nothing in `pipeline/` edited; an unknown name is one line listing the
registered ones."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from clikit import FIXTURE_CORPUS, run_cli

from pipeline.config import ConfigError, load_settings
from pipeline.llm.base import Options
from pipeline.llm.ollama import OllamaLLM
from pipeline.models import SearchResult
from pipeline.run.engines import (
    LLM_ENGINES,
    SEARCH_ENGINES,
    EngineSetupError,
    LLMEngine,
    SearchEngine,
    register_llm,
    register_search,
)
from pipeline.run.runner import run_report
from pipeline.search.local import LocalSearch


class PluggedLLM(OllamaLLM):
    """A third-party generative engine: speaks Ollama's API, under its own name."""

    provider = "plugged-llm"


class PluggedSearch:
    """A third-party search engine: answers from a corpus folder, remembering every query."""

    engine = "plugged-search"

    def __init__(self, sources: Path, index: Path) -> None:
        self.local = LocalSearch(sources, index)
        self.queries: list[str] = []

    def cache_identity(self) -> dict:
        return {"engine": self.engine, **self.local.cache_identity()}

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        self.queries.append(query)
        return [r.model_copy(update={"engine": self.engine}) for r in self.local.search(query, max_results)]


@pytest.fixture
def plugged(fake_ollama, tmp_path):
    """Registers `plugged-llm` (talking to the fake Ollama) and `plugged-search`; removes them after."""
    built: dict[str, object] = {}

    def build_llm(settings, notes, warn):
        notes.note("llm", "plugged engine built")
        engine = PluggedLLM(fake_ollama.url, settings.model, Options(num_ctx=settings.num_ctx, num_predict=256),
                            backoff_s=0.01)
        built["llm"] = engine
        return engine

    def build_search(settings):
        search = PluggedSearch(settings.sources, settings.out / "plugged-index.db")
        built["search"] = search
        return search

    register_llm(LLMEngine("plugged-llm", "a test engine", build_llm,
                           config=lambda settings, engine: {"plugged": engine.model}))
    register_search(SearchEngine("plugged-search", "a test search", build_search, needs_sources=True))
    yield built
    LLM_ENGINES.unregister("plugged-llm")
    SEARCH_ENGINES.unregister("plugged-search")


def test_registered_engines_write_a_report_by_name(plugged, fake_ollama, corpus, tmp_path):
    flags = {"llm": "plugged-llm", "search": "plugged-search", "sources": corpus, "out": tmp_path / "out",
             "breadth": 2, "max_loops": 1, "quiet": True, "fetch_pages": 3}
    settings, origin = load_settings(flags, env={})
    assert (settings.llm, settings.search) == ("plugged-llm", "plugged-search")

    outcome = run_report(settings, "人工智能发展趋势", warn=lambda _: None)
    report = outcome.report_path.read_text(encoding="utf-8")
    assert "**LLM 提供商**: plugged-llm" in report
    assert "**搜索引擎**: plugged-search" in report
    config = outcome.manifest["config"]
    assert (config["provider"], config["llm_requested"], config["search_engine"]) == (
        "plugged-llm", "plugged-llm", "plugged-search")
    assert config["plugged"] == settings.model  # the engine's own run.json fields, from its spec
    assert {"step": "llm", "note": "plugged engine built"} in outcome.manifest["notes"]
    # A generative engine (the default capabilities): it got rendered prompts, in parallel workers.
    chats = [r for r in fake_ollama.requests if "messages" in r]
    assert chats and all(r["messages"][-1]["content"].strip() for r in chats)
    assert outcome.manifest["llm"]["calls"] == len(chats)
    assert plugged["search"].queries  # the plugged search answered the research rounds
    # Not a web search (reads_pages unset): no fetcher, no fetches, though fetch_pages is 3.
    assert outcome.manifest["search"]["fetches"] == 0

    # Cacheable (the default): the rerun sends nothing.
    again = run_report(settings, "人工智能发展趋势", warn=lambda _: None)
    assert again.manifest["llm"]["calls"] == 0
    assert len([r for r in fake_ollama.requests if "messages" in r]) == len(chats)


def test_an_unknown_engine_is_one_line_listing_the_registered_ones(plugged, tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings({"llm": "nope"}, env={})
    message = str(err.value)
    assert "\n" not in message
    assert "unknown LLM engine 'nope'; choose one of: auto, ollama, extractive, openai, langchain, plugged-llm" in message
    with pytest.raises(ConfigError, match="unknown search engine 'nope'; choose one of: auto, duckduckgo, local, plugged-search"):
        load_settings({}, env={"YANBAO_SEARCH": "nope"})
    with pytest.raises(EngineSetupError, match="unknown fetcher 'nope'; choose one of: web"):
        from pipeline.run.engines import FETCHERS

        FETCHERS.get("nope")


def test_the_cli_refuses_an_unknown_engine_in_one_line(tmp_path):
    res = run_cli("run", "人工智能发展趋势", "--llm", "nope", cwd=tmp_path)
    assert res.code == 2
    assert res.stderr.strip().splitlines() == [
        "yanbao: Invalid value for '--llm': 'nope' is not one of 'auto', 'ollama', 'extractive', 'openai', 'langchain'."
    ]
    (tmp_path / "yanbao.toml").write_text('[yanbao]\nsearch = "nope"\n', encoding="utf-8")
    res = run_cli("run", "人工智能发展趋势", cwd=tmp_path)
    assert res.code == 2
    assert res.stderr.strip().splitlines() == [
        "yanbao: invalid search = 'nope' (from yanbao.toml): Value error, unknown search engine 'nope'; "
        "choose one of: auto, duckduckgo, local"
    ]
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").glob("*.md"))


PLUGIN = '''
"""A third-party package: an LLM engine and a search engine, registered by entry points only."""

from pipeline.run.engines import LLMEngine, SearchEngine


def _llm(settings, notes, warn):
    from pipeline.llm.extractive import ExtractiveLLM

    class Sentences(ExtractiveLLM):
        provider = "sentences"  # extractive: not generative, sequential

    return Sentences()


def _search(settings):
    from pipeline.search.local import LocalSearch

    class Shelf(LocalSearch):
        engine = "shelf"

    return Shelf(settings.sources, settings.out / "shelf.db")


ENGINE = LLMEngine("ignored", "source sentences, from a plugin", _llm)
SEARCH = SearchEngine("ignored", "the sources folder, from a plugin", _search, needs_sources=True)
BROKEN = "not a spec"
'''


def _install_plugin(site: Path) -> None:
    """A tiny installed distribution: a module and a dist-info with entry points, on PYTHONPATH."""
    site.mkdir()
    (site / "yanbao_shelf.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "yanbao_shelf-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: yanbao-shelf\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[yanbao.engines]\nsentences = yanbao_shelf:ENGINE\nbroken = yanbao_shelf:BROKEN\n\n"
        "[yanbao.search]\nshelf = yanbao_shelf:SEARCH\nmissing = yanbao_shelf_gone:SEARCH\n",
        encoding="utf-8",
    )


def test_an_entry_point_engine_writes_a_report_by_name(tmp_path):
    _install_plugin(tmp_path / "site")
    env = {"PYTHONPATH": f"{tmp_path / 'site'}:{Path(__file__).resolve().parents[2]}"}

    helped = run_cli("run", "--help", cwd=tmp_path, env={**env, "COLUMNS": "300"})
    assert "<auto|ollama|extractive|openai|langchain|broken|sentences>" in helped.stdout
    assert "<auto|duckduckgo|local|missing|shelf>" in helped.stdout
    shown = run_cli("config", "show", cwd=tmp_path, env=env)
    assert "  sentences   source sentences, from a plugin" in shown.stdout
    assert "  shelf       the sources folder, from a plugin" in shown.stdout
    assert "  broken      (cannot be loaded: LLM engine 'broken'" in shown.stdout

    res = run_cli("run", "人工智能发展趋势", "--llm", "sentences", "--search", "shelf", "--sources",
                  str(FIXTURE_CORPUS), "--out", "out", "--breadth", "2", "--max-loops", "1", "--quiet",
                  cwd=tmp_path, env=env, timeout=300)
    assert res.code == 0, res.stderr
    assert "**LLM 提供商**: sentences" in res.text and "**搜索引擎**: shelf" in res.text
    manifest = res.manifest
    assert (manifest["config"]["provider"], manifest["config"]["search_engine"]) == ("sentences", "shelf")
    assert manifest["llm"]["calls"] == 0  # not a network engine
    assert "failed" not in manifest

    broken = run_cli("run", "人工智能发展趋势", "--llm", "broken", "--search", "local", "--sources",
                     str(FIXTURE_CORPUS), "--out", "out2", cwd=tmp_path, env=env)
    assert broken.code == 2
    assert broken.stderr.strip().splitlines() == [
        "yanbao: LLM engine 'broken' (yanbao.engines entry point yanbao_shelf:BROKEN) is a str, "
        "not a pipeline.run.engines.LLMEngine"
    ]
    missing = run_cli("run", "人工智能发展趋势", "--llm", "extractive", "--search", "missing", "--sources",
                      str(FIXTURE_CORPUS), "--out", "out3", cwd=tmp_path, env=env)
    assert missing.code == 2
    assert missing.stderr.strip().splitlines() == [
        "yanbao: search engine 'missing' (yanbao.search entry point yanbao_shelf_gone:SEARCH) cannot be loaded: "
        "ModuleNotFoundError: No module named 'yanbao_shelf_gone'"
    ]
    assert not (tmp_path / "out2").exists() or not list((tmp_path / "out2").glob("*.md"))
    assert not (tmp_path / "out3").exists() or not list((tmp_path / "out3").glob("*.md"))


def test_entry_points_are_listed_without_importing_them(tmp_path, monkeypatch):
    import sys

    _install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert "sentences" in LLM_ENGINES.names() and "shelf" in SEARCH_ENGINES.names()
    assert "yanbao_shelf" not in sys.modules
    spec = LLM_ENGINES.get("sentences")
    assert (spec.name, spec.help) == ("sentences", "source sentences, from a plugin")  # named as its entry point
    try:
        assert "yanbao_shelf" in sys.modules
        rows = dict(LLM_ENGINES.described())
        assert rows["sentences"] == "source sentences, from a plugin"
        assert rows["broken"].startswith("(cannot be loaded: ")
        json.dumps(rows)
    finally:
        LLM_ENGINES.unregister("sentences")
        monkeypatch.delitem(sys.modules, "yanbao_shelf")
