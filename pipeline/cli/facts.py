"""CLI of the facts room: `yanbao check` and `yanbao facts import|list|search`.

`pipeline/cli/app.py` imports this module at start-up, so only typer and the standard library are
imported here at module level; the store, jieba and rich load inside the commands.

The contract other tools rely on (keep it stable):

* `yanbao check REPORT.md --sources DIR [--facts DB] [--json] [--strict]` imports DIR (and
  DIR/facts.yaml) into the store, then checks every number of the report. DB is a SQLite file or a
  postgresql:// URL; without `--facts`, the shared store (`store` setting) or outputs/facts.db.
* `--json` prints one JSON object: {"claims": [{"text", "start", "end", "value", "value_hi", "unit",
  "approx", "status", "evidence": [{"source", "quote", "value"}]}], "summary": {"verified",
  "contradicted", "unsupported"}}; `start`/`end` are Python string offsets into the report's decoded
  text, so report[start:end] == text.
* Exit codes: 0 done; 1 with `--strict` when a claim is contradicted; 2 bad input (one line on
  stderr naming the file, and the line for YAML; the store is left unchanged).
"""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.common import fail

if TYPE_CHECKING:
    from pipeline.facts.check import CheckReport
    from pipeline.facts.store import FactStore

DEFAULT_DB = Path("outputs/facts.db")
EXIT_CONTRADICTED = 1
EXIT_BAD_INPUT = 2

FactsOption = Annotated[
    str | None,
    typer.Option(
        "--facts", help="Facts store: a SQLite file or a postgresql:// URL.",
        show_default="the store setting, else outputs/facts.db",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

facts_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)



def _target(facts: str | None) -> str:
    """`--facts`, else the shared store (`store` in yanbao.toml or YANBAO_STORE), else outputs/facts.db."""
    if facts:
        return facts
    from pipeline.config import ConfigError, load_settings

    try:
        settings, _ = load_settings()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return settings.store or str(DEFAULT_DB)


def _shown(target: str) -> str:
    """The store as messages name it (a URL without its password)."""
    from pipeline.run.db import is_url, redact

    return redact(target) if is_url(target) else target


def _open_store(path: str | None) -> "FactStore":
    from pipeline.facts.store import FactsError, FactStore

    try:
        return FactStore(_target(path))
    except FactsError as exc:
        raise fail(str(exc)) from None


def _read_report(path: Path) -> str:
    """The report's full decoded text (front matter included: offsets index the whole file)."""
    from pipeline.documents import DocumentError, decode_bytes, read_document

    try:
        doc = read_document(path)  # refuses binary, oversized (without reading) and bad front matter
        text, _ = decode_bytes(path.read_bytes(), str(path))
    except DocumentError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not doc.body.strip():
        raise fail(f"{path}: empty report, there is nothing to check")
    return text


def check(
    report: Annotated[Path, typer.Argument(help="The report (markdown) to check.", show_default=False)],
    sources: Annotated[
        Path | None,
        typer.Option("--sources", help="Folder of sources to import first (and its facts.yaml)."),
    ] = None,
    facts: FactsOption = None,
    as_json: JsonOption = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any number is contradicted.")] = False,
) -> None:
    """Check every number in REPORT against the facts store."""
    from pipeline.facts.check import check_text
    from pipeline.facts.store import FactsError

    text = _read_report(report)
    if sources is not None and not sources.exists():
        raise fail(f"{sources}: no such sources folder")
    store = _open_store(facts)
    try:
        if sources is not None:
            store.import_path(sources)
        result = check_text(text, store)
    except FactsError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    else:
        _print_check(result, report)
    if strict and result.summary.get("contradicted", 0):
        raise typer.Exit(EXIT_CONTRADICTED)


def _print_check(result: "CheckReport", report: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from pipeline.facts.check import format_value

    labels = {"verified": "[green]已核实[/]", "contradicted": "[red]存在出入[/]", "unsupported": "[yellow]未找到来源[/]"}
    table = Table(title=f"数据核验：{report}", show_lines=False)
    for col in ("原文", "规范化数值", "状态", "来源与原文摘录"):
        table.add_column(col, overflow="fold")
    for c in result.claims:
        evidence = "\n".join(f"{e.source}：{e.quote}" for e in c.evidence) or "—"
        table.add_row(c.text, format_value(c.value, c.value_hi, c.unit), labels[c.status], evidence)
    console = Console()
    console.print(table)
    s = result.summary
    console.print(
        f"共 {len(result.claims)} 处数值：已核实 {s['verified']}，存在出入 {s['contradicted']}，"
        f"未找到来源 {s['unsupported']}。"
    )


@facts_app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (text, markdown, facts.yaml).")],
    facts: FactsOption = None,
) -> None:
    """Import sources into the facts store (all or nothing; unchanged files are skipped)."""
    from pipeline.facts.store import FactsError, ImportResult

    store = _open_store(facts)
    total = ImportResult()
    try:
        with store.transaction():
            for p in paths:
                total.add(store.import_path(p))
        n_sources, n_facts = store.count()
    except FactsError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()
    typer.echo(
        f"imported {total.imported} document(s), {total.unchanged} unchanged, {total.facts} fact(s); "
        f"store {_shown(store.path)}: {n_sources} source(s), {n_facts} fact(s)"
    )


@facts_app.command("list")
def list_command(facts: FactsOption = None, as_json: JsonOption = False) -> None:
    """List the sources in the facts store with their number of facts."""
    store = _open_store(facts)
    try:
        rows = store.list_sources()
    finally:
        store.close()
    if as_json:
        out = [{"id": r.id, "kind": r.kind, "title": r.title, "url": r.url, "date": r.date, "facts": r.facts} for r in rows]
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{_shown(store.path)}: {len(rows)} source(s)")
    for col in ("id", "kind", "title", "url", "date", "facts"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r.id), r.kind, r.title, r.url, r.date, str(r.facts))
    Console().print(table)


@facts_app.command("search")
def search_command(
    word: Annotated[str, typer.Argument(help="A word (甲骨文, RPO) or a quantity (4550亿美元).")],
    facts: FactsOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many facts.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Search stored facts by word, or by value when WORD is a quantity."""
    from pipeline.facts.check import format_value, quote_of

    store = _open_store(facts)
    try:
        found = store.search(word, limit=limit)
    finally:
        store.close()
    if as_json:
        out = [
            {"text": f.text, "value": f.value, "value_hi": f.value_hi, "unit": f.unit, "source": f.source, "quote": quote_of(f)}
            for f in found
        ]
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{word}: {len(found)} fact(s)")
    for col in ("原文", "规范化数值", "来源", "原文摘录"):
        table.add_column(col, overflow="fold")
    for f in found:
        table.add_row(f.text, format_value(f.value, f.value_hi, f.unit), f.source, quote_of(f))
    Console().print(table)
