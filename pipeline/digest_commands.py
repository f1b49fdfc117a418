"""`yanbao digest ITEM...`: the day's 资讯汇总 — one deep-dive per item, all in `<out>/<date>-digest.md`.

Light at import (only typer): the CLI registers this command at start-up.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer


def digest(
    items: Annotated[list[str], typer.Argument(metavar="ITEM", help="Topic, URL or local document path; one section each.")],
    llm: Annotated[str | None, typer.Option(help="Engine: auto (Ollama if it answers, else extractive), ollama, extractive.")] = None,
    model: Annotated[str | None, typer.Option(help="Ollama model, e.g. qwen2.5:7b.")] = None,
    ollama_host: Annotated[str | None, typer.Option(help="Ollama URL (default $OLLAMA_HOST or http://127.0.0.1:11434).")] = None,
    search: Annotated[str | None, typer.Option(help="auto (DuckDuckGo, else local), duckduckgo or local.")] = None,
    sources: Annotated[Path | None, typer.Option(help="Folder of local source documents.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (report, run.json, run store).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Slots filled at once (Ollama).")] = None,
    num_ctx: Annotated[int | None, typer.Option(help="Context window sent to Ollama; prompts are budgeted to fit.")] = None,
    num_predict: Annotated[int | None, typer.Option(help="Most tokens per reply.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    fetch_pages: Annotated[int | None, typer.Option(help="Pages read per web search (0 = snippets only).")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries of a failed Ollama request (backoff with jitter).")] = None,
    allow_private: Annotated[bool | None, typer.Option("--allow-private", help="Let the fetcher read private/loopback addresses.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore cached LLM replies and search results.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (default ./yanbao.toml).")] = None,
) -> None:
    """Write the day's digest; prints the report's path as the last line on stdout. Items that fail are
    named in the report and in run.json; the exit code is non-zero only when no item could be written."""
    from pipeline.cli import _settings, execute, fail

    flags = {
        "kind": "digest", "llm": llm, "model": model, "ollama_host": ollama_host, "search": search,
        "sources": sources, "out": out, "concurrency": concurrency, "num_ctx": num_ctx,
        "num_predict": num_predict, "temperature": temperature, "seed": seed, "fetch_pages": fetch_pages,
        "allow_private": allow_private, "max_retries": max_retries,
        "cache": False if no_cache else None, "quiet": True if quiet else None,
    }
    settings, _ = _settings(flags, config)
    items = [i for i in (x.strip() for x in items) if i]
    day = date.today().isoformat()
    if not items:
        raise fail("missing items: yanbao digest \"英伟达H20对华销售\" https://example.com/news.html ...", 2)
    outcome = execute(settings, items[0], day=day, stem=f"{day}-digest", topics=items)
    failed = [e for e in outcome.manifest.get("items", []) if e.get("status") == "failed"]
    if failed:
        names = "; ".join(f"{e['item']}: {e.get('error', '')}" for e in failed)
        print(f"yanbao: {len(failed)} of {len(items)} items could not be written ({names})", file=sys.stderr)
    print(outcome.report_path)
    if outcome.empty:
        print(f"yanbao: nothing relevant was found for any item; the report says so: {outcome.report_path}", file=sys.stderr)
        raise typer.Exit(3)
