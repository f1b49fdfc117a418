"""Flag declarations shared by the commands that write reports (`run`, `digest`).

One declaration per flag keeps the names and help identical everywhere: other tools call these
names, so they must not drift between commands. Light at import (typer only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Llm = Annotated[str | None, typer.Option(help="Engine: auto (Ollama if it answers, else extractive), ollama, extractive.")]
Model = Annotated[str | None, typer.Option(help="Ollama model, e.g. qwen2.5:7b.")]
OllamaHost = Annotated[str | None, typer.Option(help="Ollama URL (default $OLLAMA_HOST or http://127.0.0.1:11434).")]
SearchEngine = Annotated[str | None, typer.Option(help="auto (DuckDuckGo, else local), duckduckgo or local.")]
Sources = Annotated[Path | None, typer.Option(help="Folder of local source documents.")]
Out = Annotated[Path | None, typer.Option(help="Output folder (report, run.json, run store).")]
NumCtx = Annotated[int | None, typer.Option(help="Context window sent to Ollama; prompts are budgeted to fit.")]
NumPredict = Annotated[int | None, typer.Option(help="Most tokens per reply.")]
Temperature = Annotated[float | None, typer.Option(help="Sampling temperature.")]
Seed = Annotated[int | None, typer.Option(help="Sampling seed.")]
FetchPages = Annotated[int | None, typer.Option(help="Pages read per web search (0 = snippets only).")]
MaxRetries = Annotated[int | None, typer.Option(help="Retries of a failed Ollama request (backoff with jitter).")]
AllowPrivate = Annotated[
    bool | None, typer.Option("--allow-private", help="Let the fetcher read private/loopback addresses.")
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Ignore cached LLM replies and search results.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
Config = Annotated[Path | None, typer.Option("--config", help="Settings file (default ./yanbao.toml).")]
