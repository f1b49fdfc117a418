"""`yanbao digest ITEM...`: the day's 资讯汇总 — one deep-dive per item, all in `<out>/<date>-digest.md`.

Light at import (only typer): the CLI registers this command at start-up.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer

from pipeline.cli import options as opt


def digest(
    items: Annotated[list[str], typer.Argument(metavar="ITEM", help="Topic, URL or local document path; one section each.")],
    llm: opt.Llm = None,
    model: opt.Model = None,
    ollama_host: opt.OllamaHost = None,
    base_url: opt.BaseUrl = None,
    search: opt.SearchEngine = None,
    sources: opt.Sources = None,
    out: opt.Out = None,
    concurrency: Annotated[int | None, typer.Option(help="Slots filled at once (Ollama, 1-16).", show_default=opt.DEFAULTS["concurrency"])] = None,
    num_ctx: opt.NumCtx = None,
    num_predict: opt.NumPredict = None,
    temperature: opt.Temperature = None,
    seed: opt.Seed = None,
    fetch_pages: opt.FetchPages = None,
    max_retries: opt.MaxRetries = None,
    allow_private: opt.AllowPrivate = None,
    no_cache: opt.NoCache = False,
    quiet: opt.Quiet = False,
    overwrite: opt.Overwrite = False,
    config: opt.Config = None,
) -> None:
    """Write the day's digest; prints every file written, the report's path last.

    Items that fail are named in the report and in run.json; the exit code is non-zero only when no item
    could be written. A second digest of the day is numbered -2, -3 ... unless --overwrite."""
    from pipeline.cli.common import execute, fail, load, print_files

    flags = {
        "kind": "digest", "llm": llm, "model": model, "ollama_host": ollama_host, "search": search,
        "sources": sources, "out": out, "concurrency": concurrency, "num_ctx": num_ctx,
        "num_predict": num_predict, "temperature": temperature, "seed": seed, "fetch_pages": fetch_pages,
        "allow_private": allow_private, "max_retries": max_retries,
        "cache": False if no_cache else None, "quiet": True if quiet else None,
        "base_url": base_url,
    }
    settings, _ = load(flags, config)
    items = [i for i in (x.strip() for x in items) if i]
    day = date.today().isoformat()
    if not items:
        raise fail("missing items: yanbao digest \"英伟达H20对华销售\" https://example.com/news.html ...", 2)
    outcome = execute(settings, items[0], day=day, stem=f"{day}-digest", topics=items, overwrite=overwrite)
    failed = [e for e in outcome.manifest.get("items", []) if e.get("status") == "failed"]
    if failed:
        names = "; ".join(f"{e['item']}: {e.get('error', '')}" for e in failed)
        print(f"yanbao: {len(failed)} of {len(items)} items could not be written ({names})", file=sys.stderr)
    print_files(outcome)
    if outcome.empty:
        print(f"yanbao: nothing relevant was found for any item; the report says so: {outcome.report_path}", file=sys.stderr)
        raise typer.Exit(3)
