"""Settings: `yanbao.toml`, then the environment, then CLI flags; later wins.

Every value remembers where it came from, so `yanbao config show` can answer the question users
actually have ("why is it using that host?").
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("md", "html")


class ConfigError(Exception):
    """Bad configuration or flag value. The message is one line naming the setting."""


class Settings(BaseModel):
    kind: str = "research"  # a registered report kind: checked against pipeline.kinds by the CLI and the runner
    llm: str = "auto"  # a name in pipeline.run.engines.LLM_ENGINES (built-ins and yanbao.engines plugins)
    model: str = "qwen2.5:7b"
    # --llm langchain: LangChain's `init_chat_model` spec, "provider:model" (pipeline/llm/langchain_engine.py)
    langchain_model: str = ""
    langchain_method: Literal["auto", "json_schema", "function_calling", "json_mode", "prompt"] = "auto"
    ollama_host: str = "http://127.0.0.1:11434"  # one URL, or several: a TOML list or comma separated
    ollama_concurrency: int = Field(0, ge=0, le=1024)  # requests at once per Ollama host (0: no cap)
    ollama_down_s: float = Field(30.0, gt=0, le=86400)  # how long a failing host gets no requests
    search: str = "auto"  # a name in pipeline.run.engines.SEARCH_ENGINES (yanbao.search plugins too)
    region: str = "cn-zh"
    sources: Path = Field(default_factory=lambda: default_sources())
    out: Path = Path("outputs")
    max_loops: int = Field(3, ge=1, le=10)
    breadth: int = Field(3, ge=1, le=10)
    concurrency: int = Field(2, ge=1, le=16)
    results_per_query: int = Field(5, ge=1, le=20)
    fetch_pages: int = Field(3, ge=0, le=10)
    allow_private: bool = False
    fetcher: str = "web"  # reads the pages of web results: a name in pipeline.run.engines.FETCHERS
    num_ctx: int = Field(8192, ge=512, le=262144)
    num_predict: int = Field(1024, ge=16, le=32768)
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    seed: int = 42
    timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    stream: bool = False
    cache: bool = True
    quiet: bool = False
    formats: list[str] = Field(default_factory=lambda: ["md"])  # files written per report: md, html
    front_matter: bool = False  # YAML front matter on the markdown (static-site generators)
    # The run store and the facts store: empty = SQLite files in `out` (yanbao.db, facts.db); a
    # postgresql:// URL = one PostgreSQL database shared by every machine (needs yanbao[scale]).
    store: str = ""
    # --llm openai: any OpenAI-compatible chat-completions server. The API key is read from the
    # environment variable *named* by api_key_env when a run starts; it is never a setting itself.
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    context_tokens: int = Field(8192, ge=512, le=2_097_152)  # the server's context window (prompt budget)
    # Workers (`yanbao worker`, `--queue`; the `scale` extra): the Celery broker and its queue.
    broker: str = "redis://127.0.0.1:6379/0"
    broker_queue: str = Field("yanbao", pattern=r"^[\w.-]{1,100}$")
    broker_visibility_timeout: float = Field(3600.0, ge=10)  # s before the broker re-delivers an unacked task
    worker_concurrency: int = Field(2, ge=1, le=64)  # reports at once in one worker process
    worker_sweep_s: float = Field(5.0, gt=0, le=3600)  # how often a worker looks for reports a dead worker left

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, v: object) -> list[str]:
        """`md,html` (flag, environment) or a list (TOML); the markdown is always written."""
        items = v.split(",") if isinstance(v, str) else v
        if not isinstance(items, list | tuple):
            raise ValueError("formats must be a list such as [\"md\", \"html\"]")
        out: list[str] = []
        for item in items:
            name = str(item).strip().lower()
            if not name:
                continue
            if name not in FORMATS:
                raise ValueError(f"unknown format '{item}'; choose from {', '.join(FORMATS)}")
            if name not in out:
                out.append(name)
        return ["md", *(f for f in out if f != "md")]

    @field_validator("llm")
    @classmethod
    def _llm(cls, v: str) -> str:
        """A registered engine (not imported here: a plugin loads when its engine is built)."""
        from pipeline.run.engines import LLM_ENGINES

        return LLM_ENGINES.check(v.strip())

    @field_validator("search")
    @classmethod
    def _search(cls, v: str) -> str:
        from pipeline.run.engines import SEARCH_ENGINES

        return SEARCH_ENGINES.check(v.strip())

    @field_validator("fetcher")
    @classmethod
    def _fetcher(cls, v: str) -> str:
        from pipeline.run.engines import FETCHERS

        return FETCHERS.check(v.strip())

    @field_validator("ollama_host", mode="before")
    @classmethod
    def _host(cls, v: object) -> str:
        """One URL, or a pool: `["http://a:11434", "b:11434"]` (TOML) or `a:11434,b:11434` (flag,
        environment). Kept as one comma-separated string of normalized URLs, so a single host reads
        exactly as before (`config show`, run.json); `ollama_hosts` is the list."""
        if not isinstance(v, str | list | tuple):
            raise ValueError("must be a URL or a list of URLs")
        items = v.split(",") if isinstance(v, str) else [str(x) for x in v]
        hosts: list[str] = []
        for item in items:
            h = item.strip().rstrip("/")
            if not h:
                continue
            if "://" not in h:
                h = "http://" + h
            if h.startswith("http://0.0.0.0"):
                h = h.replace("0.0.0.0", "127.0.0.1", 1)
            if h not in hosts:
                hosts.append(h)
        if not hosts:
            raise ValueError("empty host")
        return ",".join(hosts)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        """A URL with no credentials in it: base_url is shown by `config show` and stored with the run."""
        from urllib.parse import urlsplit

        v = v.strip().rstrip("/")
        if "://" not in v:
            v = "http://" + v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if parts.username is not None or parts.password is not None:
            raise ValueError("base_url must not hold credentials; put the key in the variable named by api_key_env")
        if parts.query or parts.fragment:
            raise ValueError("base_url takes no query string or fragment; put any key in the variable named by api_key_env")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _api_key_env(cls, v: str) -> str:
        """The *name* of a variable (OPENAI_API_KEY), never a key: a pasted key is refused, not echoed."""
        v = v.strip()
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", v):
            raise ValueError("api_key_env names an environment variable (e.g. OPENAI_API_KEY), not the key itself")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        v = v.strip()
        if not v or any(ch.isspace() for ch in v):
            raise ValueError("model name must be one word such as qwen2.5:7b")
        return v

    @field_validator("store")
    @classmethod
    def _store(cls, v: str) -> str:
        v = (v or "").strip()
        if v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("store must be a postgresql:// URL, or empty for SQLite files in the out folder")
        return v

    @field_validator("langchain_model")
    @classmethod
    def _langchain_model(cls, v: str) -> str:
        v = v.strip()
        if any(ch.isspace() for ch in v):
            raise ValueError("langchain_model must be one word such as openai:gpt-4o-mini")
        return v

    @property
    def ollama_hosts(self) -> list[str]:
        return self.ollama_host.split(",")

    @property
    def db_path(self) -> Path:
        return self.out / "yanbao.db"

    @property
    def facts_path(self) -> Path:
        return self.out / "facts.db"

    @property
    def run_store(self) -> str | Path:
        """What `RunStore` opens: the shared database's URL, else `<out>/yanbao.db`."""
        return self.store or self.db_path

    def run_store_exists(self) -> bool:
        """Whether there is a run store to read (a shared database always is: reading it says if not)."""
        return bool(self.store) or self.db_path.is_file()


def default_sources() -> Path:
    """`./sources` when the working folder has one, else the corpus shipped with the project."""
    here = Path("sources")
    return here if here.is_dir() else PROJECT_ROOT / "sources"


# Environment variables read, and the setting each feeds. OLLAMA_HOST is the standard Ollama one,
# OPENAI_BASE_URL the OpenAI clients' one.
ENV_VARS: dict[str, str] = {
    "OLLAMA_HOST": "ollama_host",
    "OLLAMA_MODEL": "model",
    "OPENAI_BASE_URL": "base_url",
    **{f"YANBAO_{name.upper()}": name for name in Settings.model_fields},
}
# YANBAO_* beats the generic Ollama variables when both are set.
_ENV_ORDER = ["OLLAMA_HOST", "OLLAMA_MODEL", "OPENAI_BASE_URL"] + [k for k in ENV_VARS if k.startswith("YANBAO_")]


# Settings whose rejected value is not quoted in the error: a key pasted where a name belongs.
NOT_ECHOED = frozenset({"api_key_env", "base_url"})


def _coerce_env(var: str, name: str, raw: str) -> Any:
    field = Settings.model_fields[name]
    if field.annotation is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"environment: {var} must be true or false, got {raw!r}")
    return raw


def load_settings(
    flags: Mapping[str, object] | None = None,
    config_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Settings, dict[str, str]]:
    """Merge the layers and validate. Returns the settings and, per field, where its value came from."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    origin: dict[str, str] = {name: "default" for name in Settings.model_fields}

    path = config_path or (Path(env["YANBAO_CONFIG"]) if env.get("YANBAO_CONFIG") else Path("yanbao.toml"))
    if config_path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        table = data.get("yanbao", data)
        for key, val in table.items():
            name = key.replace("-", "_")
            if name not in Settings.model_fields:
                raise ConfigError(f"{path}: unknown setting '{key}'")
            values[name] = val
            origin[name] = str(path)

    for var in _ENV_ORDER:
        if var in env:
            name = ENV_VARS[var]
            values[name] = _coerce_env(var, name, env[var])
            origin[name] = f"env {var}"

    for name, val in (flags or {}).items():
        if val is not None:
            values[name] = val
            origin[name] = "flag"

    try:
        settings = Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        shown = "(value not shown)" if name in NOT_ECHOED else repr(values.get(name))
        raise ConfigError(
            f"invalid {name.replace('_', '-')} = {shown} (from {origin.get(name, '?')}): {err['msg']}"
        ) from None
    return settings, origin
