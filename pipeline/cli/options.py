"""Flag declarations shared by the commands that write reports (`run`, `digest`).

One declaration per flag keeps the names and help identical everywhere: other tools call these
names, so they must not drift between commands. Light at import (typer only).

Help shows each flag's built-in default and, for choice flags, the allowed values (`--llm` and
`--search`: the engines pipeline.run.engines registers, plugins included). Settings may come
from yanbao.toml or YANBAO_* as well (see `yanbao config show`), so a flag's value is `None` when it is
not given and the defaults shown here are text. They repeat `pipeline.config.Settings`, which is not
imported here (pydantic would slow `yanbao --help`); tests/unit/test_cli_options.py keeps them equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

try:  # the class typer makes its choices with (it vendors click from 0.26 on)
    from typer._types import TyperChoice as _Choice
except ImportError:  # an older typer builds its commands with the click package it depends on
    import typer.core

    _Choice = typer.core.click.Choice  # type: ignore[attr-defined,misc]

# The built-in default of each setting, as help shows it (`[default: …]`).
DEFAULTS = {
    "kind": "research",
    "llm": "auto",
    "model": "qwen2.5:7b",
    "ollama_host": "$OLLAMA_HOST or http://127.0.0.1:11434",
    "base_url": "$OPENAI_BASE_URL or http://127.0.0.1:8000/v1",
    "search": "auto",
    "sources": "./sources if present, else the shipped corpus",
    "out": "outputs",
    "max_loops": "3",
    "breadth": "3",
    "concurrency": "2",
    "num_ctx": "8192",
    "num_predict": "1024",
    "temperature": "0.3",
    "seed": "42",
    "fetch_pages": "3",
    "max_retries": "2",
    "formats": "md",
}


if TYPE_CHECKING:
    _StrChoice = _Choice[str]
else:  # click's Choice is no generic before click 8.2
    _StrChoice = _Choice


class RegistryChoice(_StrChoice):
    """A choice flag whose values are a registry's names (`--kind`: pipeline.kinds; `--llm`, `--search`:
    pipeline.run.engines), read when help or a given value needs them, so `yanbao --help` loads no kind
    and no engine, and what a plugin adds is a valid choice. Typer's own choice class (it offers no
    public one) keeps the help and the error text those of a Literal."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        super().__init__((), case_sensitive=True)
        self._names = names

    @property
    def choices(self) -> Sequence[str]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        """The registry is the one list; what the base class sets is ignored."""


def kind_names() -> Sequence[str]:
    from pipeline import kinds

    try:
        return kinds.names()
    except kinds.KindError as exc:  # a broken plugin: one line, before anything runs
        raise typer.BadParameter(str(exc)) from None


def llm_names() -> Sequence[str]:
    from pipeline.run.engines import LLM_ENGINES

    return LLM_ENGINES.names()


def search_names() -> Sequence[str]:
    from pipeline.run.engines import SEARCH_ENGINES

    return SEARCH_ENGINES.names()


def _opt(name: str, *decls: str, help: str, click_type: RegistryChoice | None = None) -> typer.models.OptionInfo:  # noqa: A002 - typer's name
    info: typer.models.OptionInfo = typer.Option(*decls, help=help, show_default=DEFAULTS[name], click_type=click_type)
    return info


Kind = Annotated[str | None, _opt("kind", help="Report kind.", click_type=RegistryChoice(kind_names))]
Llm = Annotated[str | None, _opt("llm", click_type=RegistryChoice(llm_names), help="Engine: auto (Ollama if it answers, else extractive), ollama, extractive, openai (any OpenAI-compatible server at --base-url), langchain (setting langchain_model).")]
Model = Annotated[str | None, _opt("model", help="Model: an Ollama tag (qwen2.5:7b), or the id an OpenAI-compatible server serves.")]
OllamaHost = Annotated[str | None, _opt("ollama_host", help="Ollama URL, or several comma separated (a pool: least busy healthy host).")]
BaseUrl = Annotated[str | None, _opt("base_url", help="--llm openai: the server's OpenAI API address, ending in /v1 (the key is read from $OPENAI_API_KEY, or the variable api_key_env names).")]
SearchEngine = Annotated[str | None, _opt("search", click_type=RegistryChoice(search_names), help="auto (DuckDuckGo, else local), duckduckgo or local.")]
Sources = Annotated[Path | None, _opt("sources", help="Folder of local source documents.")]
Out = Annotated[Path | None, _opt("out", help="Output folder (report, run.json, run store).")]
MaxLoops = Annotated[int | None, _opt("max_loops", help="Search rounds per research worker (1-10).")]
Breadth = Annotated[int | None, _opt("breadth", help="Most sub-topics the supervisor plans (1-10).")]
NumCtx = Annotated[int | None, _opt("num_ctx", help="Context window sent to Ollama (512-262144); prompts are budgeted to fit.")]
NumPredict = Annotated[int | None, _opt("num_predict", help="Most tokens per reply (16-32768).")]
Temperature = Annotated[float | None, _opt("temperature", help="Sampling temperature (0-2).")]
Seed = Annotated[int | None, _opt("seed", help="Sampling seed.")]
FetchPages = Annotated[int | None, _opt("fetch_pages", help="Pages read per web search (0-10; 0 = snippets only).")]
MaxRetries = Annotated[int | None, _opt("max_retries", help="Retries of a failed Ollama request (0-10, backoff with jitter).")]
Formats = Annotated[str | None, _opt("formats", "--format", help="Files to write, comma separated, from: md, html (md always).")]
AllowPrivate = Annotated[
    bool | None, typer.Option("--allow-private", help="Let the fetcher read private/loopback addresses.", show_default="off")
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Ignore cached LLM replies and search results.", show_default="off")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.", show_default="off")]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace a report of the same name (today's report on the same topic); without it the earlier "
        "one is kept and this one is numbered -2, -3 ...",
        show_default="off",
    ),
]
Config = Annotated[Path | None, typer.Option("--config", help="Settings file.", show_default="./yanbao.toml or $YANBAO_CONFIG")]
