"""The engines a run can use, by name: LLM engines (`--llm`), search engines (`--search`) and page
fetchers (setting `fetcher`).

Each registry maps a name to a spec: a one-line help (`yanbao config show`, `yanbao run --help`), a
builder that makes the engine from the settings, and what the rest of the pipeline needs to know about
it (capabilities such as `reads_pages`, the engine's own run.json fields). Code outside an engine's own
module asks for a capability, never for a name: a new engine is one spec here, or one entry point in a
third-party package, like llm's plugins:

```toml
[project.entry-points."yanbao.engines"]   # also "yanbao.search", "yanbao.fetchers"
echo = "yanbao_echo:ENGINE"               # an LLMEngine (SearchEngine, FetcherEngine) instance
```

Light at import (no pydantic, no engine module): `yanbao --help` lists the names. The built-ins' engine
modules are imported by their builders, so LangChain stays unimported until `--llm langchain` runs;
a plugin's module is imported when its engine is built or described, its name is listed without that.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

    from pipeline.llm.base import LLM, Options
    from pipeline.llm.langchain_engine import Method
    from pipeline.search.base import Fetcher, Search
    from pipeline.search.fetch import Cache

LLM_GROUP = "yanbao.engines"
SEARCH_GROUP = "yanbao.search"
FETCHER_GROUP = "yanbao.fetchers"


class EngineError(Exception):
    """An engine could not be built. The message is one line for the user."""


class EngineSetupError(EngineError):
    """The user's choice cannot work as set up (unknown name, a missing package, a missing setting):
    bad input, exit 2, before anything is written."""


class EngineUnavailable(EngineError):
    """The engine was asked for by name and does not answer (server down, model not served): the run
    fails, exit 1, before anything is written."""


class Settings(Protocol):
    """What an engine's builder may read of the run's settings (`pipeline.config.Settings` is one;
    not imported here, since the settings validate their engine names against these registries)."""

    @property
    def model(self) -> str: ...
    @property
    def num_ctx(self) -> int: ...
    @property
    def num_predict(self) -> int: ...
    @property
    def temperature(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def stream(self) -> bool: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def ollama_host(self) -> str: ...
    @property
    def ollama_hosts(self) -> list[str]: ...
    @property
    def ollama_concurrency(self) -> int: ...
    @property
    def ollama_down_s(self) -> float: ...
    @property
    def base_url(self) -> str: ...
    @property
    def api_key_env(self) -> str: ...
    @property
    def context_tokens(self) -> int: ...
    @property
    def langchain_model(self) -> str: ...
    @property
    def langchain_method(self) -> Method: ...
    @property
    def sources(self) -> Path: ...
    @property
    def out(self) -> Path: ...
    @property
    def region(self) -> str: ...
    @property
    def allow_private(self) -> bool: ...
    @property
    def cache(self) -> bool: ...


class Notes(Protocol):
    """Where a builder says what it did (the run's journal: run.json `notes` and `degraded`)."""

    def note(self, step: str, text: str) -> None: ...

    def degrade(self, step: str, reason: str) -> None: ...


Warn = Callable[[str], None]


@dataclass(frozen=True)
class LLMEngine:
    """An LLM engine `--llm NAME` builds. `build(settings, notes, warn)` returns the engine, checked
    as far as it can be before the run (server reachable, model served); it raises `EngineSetupError`
    or `EngineUnavailable`. `config(settings, engine)` adds the engine's own fields to run.json
    `config` (the OpenAI-compatible server's address and key variable). What the engine can do is on
    the engine object (`pipeline.llm.base.Capabilities`)."""

    name: str
    help: str
    build: Callable[[Settings, Notes, Warn], LLM]
    config: Callable[[Settings, LLM], dict[str, object]] | None = None


@dataclass(frozen=True)
class SearchEngine:
    """A search engine `--search NAME` builds. `build(settings)` may raise `SearchError` (its message is
    shown as bad input). `reads_pages`: its results are web pages worth fetching (`--fetch-pages`);
    `needs_sources`: it reads the local sources folder, which must then exist."""

    name: str
    help: str
    build: Callable[[Settings], Search]
    reads_pages: bool = False
    needs_sources: bool = False


@dataclass(frozen=True)
class FetcherEngine:
    """A page fetcher (setting `fetcher`): `build(settings, cache)` returns an object with
    `fetch(url)` and `fetch_many(urls)`, as `pipeline.search.fetch.Fetcher`; `cache` is the run
    store when caching is on."""

    name: str
    help: str
    build: Callable[[Settings, Cache | None], Fetcher]


S = TypeVar("S", LLMEngine, SearchEngine, FetcherEngine)


@dataclass
class Registry(Generic[S]):
    """Specs by name: the built-ins and `register()`ed ones first, then the entry points of `group`
    (listed by name without importing them; a plugin of a taken name is ignored)."""

    what: str  # "LLM engine": for messages
    group: str
    kind: type[S]
    _specs: dict[str, S] = field(default_factory=dict)
    _plugins: dict[str, S] = field(default_factory=dict)  # loaded entry points, by name

    def register(self, spec: S, *, replace_existing: bool = False) -> S:
        """Add `spec` (tests, plugins registering from code). A taken name is an error unless
        `replace_existing`."""
        if not isinstance(spec, self.kind):
            raise TypeError(f"{self.what} specs are {self.kind.__name__}, got {type(spec).__name__}")
        if not spec.name or not spec.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"{self.what} name {spec.name!r} must be one word (letters, digits, - or _)")
        if spec.name in self._specs and not replace_existing:
            raise ValueError(f"{self.what} '{spec.name}' is already registered")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)
        self._plugins.pop(name, None)

    def find(self, name: str) -> S | None:
        """The spec of `name` if it is registered or already loaded; None otherwise (never loads)."""
        return self._specs.get(name) or self._plugins.get(name)

    def names(self) -> list[str]:
        """Every name `--llm`/`--search` accepts: registered ones in order, then entry points by name."""
        taken = list(self._specs)
        return taken + sorted(n for n in _entry_points(self.group) if n not in self._specs)

    def get(self, name: str) -> S:
        """The spec of `name`; an unknown name is `EngineSetupError` listing the known ones."""
        spec = self.find(name)
        if spec is not None:
            return spec
        point = _entry_points(self.group).get(name)
        if point is None:
            raise EngineSetupError(self.unknown(name))
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plugin: any import error is its own, shown in one line
            raise EngineSetupError(
                f"{self.what} '{name}' ({self.group} entry point {point.value}) cannot be loaded: "
                f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            ) from None
        if callable(loaded) and not isinstance(loaded, self.kind):
            loaded = loaded()  # a factory: lets a plugin build its spec lazily
        if not isinstance(loaded, self.kind):
            raise EngineSetupError(
                f"{self.what} '{name}' ({self.group} entry point {point.value}) is a {type(loaded).__name__}, "
                f"not a pipeline.run.engines.{self.kind.__name__}"
            )
        spec = replace(loaded, name=name)  # the entry point's name is the one users type
        self._plugins[name] = spec
        return spec

    def check(self, name: str) -> str:
        """`name` if it is registered (not loading a plugin), else `ValueError` listing the names."""
        if name in self._specs or name in _entry_points(self.group):
            return name
        raise ValueError(self.unknown(name))

    def unknown(self, name: str) -> str:
        return f"unknown {self.what} '{name}'; choose one of: {', '.join(self.names())}"

    def described(self) -> list[tuple[str, str]]:
        """(name, one-line help) of every engine, for `yanbao config show`. A plugin that cannot be
        loaded is listed with the reason."""
        rows = []
        for name in self.names():
            try:
                rows.append((name, self.get(name).help))
            except EngineSetupError as exc:
                rows.append((name, f"(cannot be loaded: {exc})"))
        return rows


class _EntryPoint(Protocol):
    name: str
    value: str

    def load(self) -> object: ...


_SCANNED: dict[tuple[str, ...], Mapping[str, Mapping[str, _EntryPoint]]] = {}


def _entry_points(group: str) -> Mapping[str, _EntryPoint]:
    """The entry points of `group` by name. All groups are read in one scan of the installed
    distributions, once per `sys.path` (a test that puts a plugin on the path sees it)."""
    key = tuple(sys.path)
    scanned = _SCANNED.get(key)
    if scanned is None:
        from importlib.metadata import entry_points

        every = entry_points()  # one scan; `select` on it reads no files again
        found: dict[str, dict[str, _EntryPoint]] = {}
        for name in (LLM_GROUP, SEARCH_GROUP, FETCHER_GROUP):
            found[name] = {}
            for point in every.select(group=name):
                found[name].setdefault(point.name, point)
        _SCANNED.clear()
        _SCANNED[key] = scanned = found
    return scanned.get(group, {})


LLM_ENGINES: Registry[LLMEngine] = Registry("LLM engine", LLM_GROUP, LLMEngine)
SEARCH_ENGINES: Registry[SearchEngine] = Registry("search engine", SEARCH_GROUP, SearchEngine)
FETCHERS: Registry[FetcherEngine] = Registry("fetcher", FETCHER_GROUP, FetcherEngine)


def register_llm(spec: LLMEngine, *, replace_existing: bool = False) -> LLMEngine:
    return LLM_ENGINES.register(spec, replace_existing=replace_existing)


def register_search(spec: SearchEngine, *, replace_existing: bool = False) -> SearchEngine:
    return SEARCH_ENGINES.register(spec, replace_existing=replace_existing)


def register_fetcher(spec: FetcherEngine, *, replace_existing: bool = False) -> FetcherEngine:
    return FETCHERS.register(spec, replace_existing=replace_existing)


def llm_config(settings: Settings, engine: LLM) -> dict[str, object]:
    """The engine's own run.json `config` fields: from the spec of the engine that was built (under
    `--llm auto`, the one auto chose), none for an engine that registered no such hook."""
    spec = LLM_ENGINES.find(engine.provider)
    return spec.config(settings, engine) if spec is not None and spec.config is not None else {}


# --- the built-in LLM engines ------------------------------------------------------------------------


def _options(settings: Settings) -> Options:
    from pipeline.llm.base import Options

    return Options(
        num_ctx=settings.num_ctx,
        num_predict=settings.num_predict,
        temperature=settings.temperature,
        seed=settings.seed,
        timeout_s=settings.timeout_s,
    )


def _extractive(settings: Settings, notes: Notes, warn: Warn) -> LLM:
    from pipeline.llm.extractive import ExtractiveLLM

    return ExtractiveLLM()


def _checked_ollama(settings: Settings, notes: Notes, warn: Warn) -> LLM:
    """Ollama with the model checked on every host; raises `LLMError` when no host can serve it."""
    from pipeline.llm.ollama import OllamaLLM
    from pipeline.llm.pool import shared_pool

    pool = shared_pool(settings.ollama_hosts, limit=settings.ollama_concurrency, down_s=settings.ollama_down_s)
    engine = OllamaLLM(
        settings.ollama_host, settings.model, _options(settings), stream=settings.stream,
        max_retries=settings.max_retries, pool=pool,
    )
    engine.check_model()
    for why in engine.unusable.values():  # several hosts: the others carry the run
        notes.note("llm", f"host set aside: {why}")
        warn(f"yanbao: warning: {why}; using the other Ollama hosts")
    return engine


def _ollama(settings: Settings, notes: Notes, warn: Warn) -> LLM:
    from pipeline.llm.base import LLMError

    try:
        return _checked_ollama(settings, notes, warn)
    except LLMError as exc:
        raise EngineUnavailable(str(exc)) from None


def _auto(settings: Settings, notes: Notes, warn: Warn) -> LLM:
    """Ollama when it answers and has the model, else the extractive engine, saying so on stderr and
    in the manifest."""
    from pipeline.llm.base import LLMError

    try:
        return _checked_ollama(settings, notes, warn)
    except LLMError as exc:
        reason = f"Ollama not usable ({exc}); using the extractive engine"
        notes.degrade("llm", reason)
        warn(f"yanbao: {reason}")
        return _extractive(settings, notes, warn)


def _openai(settings: Settings, notes: Notes, warn: Warn) -> LLM:
    """An OpenAI-compatible server, checked before the run starts (reachable, key accepted, model
    served). Never a silent fallback: the user asked for this server."""
    from pipeline.llm.base import LLMError
    from pipeline.llm.openai_compat import OpenAICompatLLM

    engine = OpenAICompatLLM(
        settings.base_url, settings.model, _options(settings), api_key_env=settings.api_key_env,
        context_tokens=settings.context_tokens, stream=settings.stream, max_retries=settings.max_retries,
    )
    try:
        engine.check_model()
    except LLMError as exc:
        raise EngineUnavailable(str(exc)) from None
    return engine


def _openai_config(settings: Settings, engine: LLM) -> dict[str, object]:
    return {"base_url": getattr(engine, "base_url", settings.base_url), "api_key_env": settings.api_key_env,
            "context_tokens": settings.context_tokens}


def _langchain(settings: Settings, notes: Notes, warn: Warn) -> LLM:
    """A set-up problem (the extra or the provider's package missing, no langchain_model, no API key)
    is bad input: one line, exit 2, nothing written."""
    from pipeline.llm.langchain_engine import EngineSetupError as LangChainSetupError
    from pipeline.llm.langchain_engine import make_langchain_llm

    try:
        engine = make_langchain_llm(
            settings.langchain_model, _options(settings), method=settings.langchain_method,
            max_retries=settings.max_retries, ollama_host=settings.ollama_host,
        )
    except LangChainSetupError as exc:
        raise EngineSetupError(str(exc)) from None
    if engine.unsupported:
        notes.note("llm", f"{engine.model} takes no {', '.join(engine.unsupported)}: not sent")
    return engine


register_llm(LLMEngine("auto", "Ollama if it answers, else extractive", _auto))
register_llm(LLMEngine("ollama", "a local Ollama server (--ollama-host, --model)", _ollama))
register_llm(LLMEngine("extractive", "source sentences chosen by TextRank + MMR: no model, no network", _extractive))
register_llm(LLMEngine("openai", "any OpenAI-compatible server at --base-url", _openai, config=_openai_config))
register_llm(LLMEngine("langchain", "any LangChain chat model (setting langchain_model)", _langchain))


# --- the built-in search engines ---------------------------------------------------------------------


def _search(name: str) -> Callable[[Settings], Search]:
    def build(settings: Settings) -> Search:
        from pipeline.search import make_search

        return make_search(name, sources=settings.sources, index_path=settings.out / "index.db", region=settings.region)

    return build


register_search(SearchEngine("auto", "DuckDuckGo, else local", _search("auto"), reads_pages=True, needs_sources=True))
register_search(SearchEngine("duckduckgo", "DuckDuckGo web search (--region)", _search("duckduckgo"), reads_pages=True))
register_search(SearchEngine("local", "the local sources folder (--sources)", _search("local"), needs_sources=True))


# --- the built-in fetcher ----------------------------------------------------------------------------


def _web_fetcher(settings: Settings, cache: Cache | None) -> Fetcher:
    from pipeline.search.fetch import Fetcher as HttpFetcher

    return HttpFetcher(allow_private=settings.allow_private, cache=cache)


register_fetcher(FetcherEngine("web", "HTTP(S) pages, main text by trafilatura (--allow-private)", _web_fetcher))
