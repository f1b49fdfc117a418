"""`yanbao fetch URL`: fetch one page the way the research loop does, to see what a source yields.

Imported when the CLI starts, so only typer and the standard library are imported here; the fetcher
(httpx, trafilatura) is imported when the command runs.
"""

from __future__ import annotations

import json
import sys

import typer

JSON_FIELDS = ("url", "final_url", "status", "title", "date", "publisher", "encoding", "text", "error")


def fetch(
    url: str = typer.Argument(..., help="Page to fetch (http or https)."),
    json_output: bool = typer.Option(
        False,
        "--json",
        help="Print one JSON object: url, final_url, status, title, date, publisher, encoding, text, error.",
    ),
    allow_private: bool = typer.Option(
        False,
        "--allow-private",
        help="Allow private, loopback and link-local addresses (local testing only).",
    ),
) -> None:
    """Exit 0 when main text was extracted, 1 when the fetch failed (the error says why)."""
    from pipeline.search.fetch import Fetcher

    with Fetcher(allow_private=allow_private) as fetcher:
        result = fetcher.fetch(url)

    if json_output:
        payload = {name: getattr(result, name) for name in JSON_FIELDS}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        raise typer.Exit(0 if result.ok else 1)

    from rich.console import Console
    from rich.markup import escape

    out = Console()
    err = Console(stderr=True)
    if not result.ok:
        err.print(
            f"[red]fetch failed:[/red] {escape(result.error or 'no text')}  ({escape(result.url)})",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out.print(f"[bold]{escape(result.title or '(no title)')}[/bold]")
    meta = [
        ("URL", result.final_url),
        ("HTTP", str(result.status)),
        ("日期", result.date),
        ("来源", result.publisher),
        ("编码", result.encoding),
        ("字数", str(len(result.text))),
    ]
    for label, value in meta:
        if value:
            out.print(f"[dim]{label}:[/dim] {escape(value)}", soft_wrap=True)
    for note in result.notes:
        out.print(f"[yellow]note:[/yellow] {escape(note)}")
    out.print()
    # Page text is printed verbatim: no markup or highlighting, since "[...]" in a page is not ours.
    out.print(result.text, markup=False, highlight=False, emoji=False, soft_wrap=True)
