"""The `yanbao` command line.

Only typer is imported at start-up; each command imports what it needs when it runs, so that
`yanbao --help` stays fast. Commands owned by other rooms are registered here from their light
`*_commands` modules.

Exit codes: 0 done; 1 the run failed (Ollama down, search unreachable, every answer of the model
invalid ...); 2 bad input or usage; 3 a report was written but retrieval found nothing relevant.
Errors are one line on stderr, starting with `yanbao:`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from pipeline.cli import options as opt
from pipeline.cli.common import execute, fail, load, print_files
from pipeline.cli.digest import digest as digest_command
from pipeline.cli.facts import check as check_command
from pipeline.cli.facts import facts_app
from pipeline.cli.fetch import fetch as fetch_command
from pipeline.cli.mcp import mcp as mcp_command
from pipeline.cli.queue import wait as wait_command
from pipeline.cli.queue import worker as worker_command
from pipeline.cli.schedule import diff as diff_command
from pipeline.cli.schedule import schedule_app

app = typer.Typer(
    name="yanbao",
    help="研报: research reports in Chinese, with every number checked against a local facts store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(no_args_is_help=True, help="Show the effective settings.")
runs_app = typer.Typer(no_args_is_help=True, help="Runs recorded in the run store.")

app.add_typer(facts_app, name="facts", help="Import, list and search the local facts store.")
app.add_typer(config_app, name="config")
app.add_typer(runs_app, name="runs")
app.command("check", help="Check every number in a report against the facts store.")(check_command)
app.command("fetch", help="Fetch one page and extract its main text, as the pipeline would.")(fetch_command)
app.add_typer(schedule_app, name="schedule")
app.command("diff", help="What changed between two reports: numbers and sources.")(diff_command)
app.command("mcp", help="Serve yanbao's tools (check_numbers, search_facts, write_report) to MCP clients over stdio.")(
    mcp_command
)
app.command("worker", help="Run a worker: write queued reports (Celery; the scale extra).")(worker_command)
runs_app.command("wait", help="Follow a run to its end; exit with its exit code.")(wait_command)
app.command("digest", help="Write the day's 资讯汇总: one deep-dive per item (topic, URL or file) in one file.")(
    digest_command
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("yanbao")
        except PackageNotFoundError:  # run from a checkout that was never installed
            from pipeline import __version__ as number
        print(f"yanbao {number}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Options of `yanbao` itself (the app's help text is the Typer's)."""




ConfigOpt = opt.Config


@app.command("run", epilog="Defaults shown are built in; yanbao.toml and YANBAO_* variables change them (yanbao config show).")
def run(
    topics: Annotated[
        list[str] | None,
        typer.Argument(metavar="TOPIC", help="Research topic, e.g. 人工智能发展趋势 (several only for --kind commentary)", show_default=False),
    ] = None,
    kind: opt.Kind = None,
    topics_file: Annotated[Path | None, typer.Option(help="--kind commentary: a file of topics, one per line (# comments and blank lines ignored).", show_default="none")] = None,
    llm: opt.Llm = None,
    model: opt.Model = None,
    ollama_host: opt.OllamaHost = None,
    base_url: opt.BaseUrl = None,
    search: opt.SearchEngine = None,
    sources: opt.Sources = None,
    out: opt.Out = None,
    max_loops: opt.MaxLoops = None,
    breadth: opt.Breadth = None,
    concurrency: Annotated[int | None, typer.Option(help="Research workers run at once (1-16).", show_default=opt.DEFAULTS["concurrency"])] = None,
    num_ctx: opt.NumCtx = None,
    num_predict: opt.NumPredict = None,
    temperature: opt.Temperature = None,
    seed: opt.Seed = None,
    fetch_pages: opt.FetchPages = None,
    max_retries: opt.MaxRetries = None,
    stream: Annotated[bool | None, typer.Option("--stream", help="Stream Ollama replies.", show_default="off")] = None,
    allow_private: opt.AllowPrivate = None,
    no_cache: opt.NoCache = False,
    quiet: opt.Quiet = False,
    resume: Annotated[str | None, typer.Option(help="Continue an unfinished run (see `yanbao runs list`), into its own file; only missing LLM requests are sent.", show_default="none")] = None,
    formats: opt.Formats = None,
    front_matter: Annotated[bool | None, typer.Option("--front-matter", help="Start the markdown with YAML front matter (static sites).", show_default="off")] = None,
    overwrite: opt.Overwrite = False,
    queue: Annotated[bool, typer.Option("--queue", help="Hand the report to the workers (yanbao worker) and print its run id; follow it with yanbao runs wait.", show_default="off")] = False,
    config: ConfigOpt = None,
) -> None:
    """Write a report on TOPIC; prints every file written, the report's path last.

    An earlier report of the same name (today's, on the same topic) is kept: this one is numbered -2, -3 ...
    unless --overwrite. A resumed run writes its own files."""
    flags = {
        "kind": kind, "llm": llm, "model": model, "ollama_host": ollama_host, "search": search,
        "sources": sources, "out": out, "max_loops": max_loops, "breadth": breadth, "concurrency": concurrency,
        "num_ctx": num_ctx, "num_predict": num_predict, "temperature": temperature, "seed": seed,
        "fetch_pages": fetch_pages, "allow_private": allow_private, "max_retries": max_retries, "stream": stream,
        "cache": False if no_cache else None, "quiet": True if quiet else None,
        "formats": formats, "front_matter": front_matter,
        "base_url": base_url,
    }
    settings, _ = load(flags, config)

    from pipeline.kinds.topics import check_topics
    from pipeline.run.runner import BadInput, load_resume

    day = None
    given = settings  # the broker and its queue are this machine's, not the recorded run's
    try:
        topics = check_topics(settings.kind, list(topics or []), topics_file)
        if resume:
            settings_out = settings.out
            settings, stored_topic, day = load_resume(settings_out, resume, settings.store)
            if topics and (len(topics) > 1 or topics[0].strip() != stored_topic):
                raise BadInput(f"run {resume} is about “{stored_topic}”, not “{topics[0]}”; drop the topic to resume")
            topics = []  # a batch's topics are kept in the run store (see kind_support.batch_topics)
            topic = stored_topic
            settings.quiet = quiet
        elif not topics:
            raise BadInput("missing topic: yanbao run \"人工智能发展趋势\" (or --resume RUN_ID)")
        else:
            topic = topics[0]
    except BadInput as exc:
        raise fail(str(exc), 2) from None
    if queue:
        from pipeline.cli.queue import queue_report

        print(queue_report(given, topic, topics if len(topics) > 1 else None, overwrite, resume, day))
        return
    outcome = execute(
        settings, topic, resume=resume, day=day, topics=topics if len(topics) > 1 else None, overwrite=overwrite
    )
    print_files(outcome)
    if outcome.empty:
        verdict = (outcome.manifest.get("coverage") or {}).get("verdict")
        why = f": {verdict}" if verdict else ""
        print(f"yanbao: nothing relevant to the topic was found{why}; the report says so: {outcome.report_path}",
              file=sys.stderr)
        raise typer.Exit(3)


@config_app.command("show")
def config_show(
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print every effective setting and where its value came from (default, file, env, flag)."""
    import json

    from pipeline.run.db import redact

    settings, origin = load({}, config)
    values = settings.model_dump(mode="json")
    values["store"] = redact(values["store"]) if values["store"] else ""  # never print a password
    values["broker"] = redact(values["broker"])
    if json_out:
        print(json.dumps({k: {"value": v, "from": origin[k]} for k, v in values.items()}, ensure_ascii=False, indent=2))
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        print(f"{key.replace('_', '-'):<{width}}  {value!s:<40}  ({origin[key]})")
    print_engines()


def print_engines() -> None:
    """The engines `llm`, `search` and `fetcher` may name (pipeline.run.engines: built-ins and the
    plugins installed), each with its one-line help."""
    from pipeline.run.engines import FETCHERS, LLM_ENGINES, SEARCH_ENGINES

    for title, registry in (("llm engines (--llm)", LLM_ENGINES), ("search engines (--search)", SEARCH_ENGINES),
                            ("fetchers (setting fetcher)", FETCHERS)):
        rows = registry.described()
        width = max(len(name) for name, _ in rows)
        print(f"\n{title}:")
        for name, help_line in rows:
            print(f"  {name:<{width}}  {help_line}")


@runs_app.command("list")
def runs_list(
    out: Annotated[Path | None, typer.Option(help="Output folder holding yanbao.db.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    unfinished: Annotated[bool, typer.Option("--unfinished", help="Only runs that did not finish.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Recent runs, newest first: done, running, failed, or interrupted (its process is gone).
    Resume an unfinished one with `yanbao run --resume RUN_ID --out DIR`."""
    settings, _ = load({"out": out}, config)
    if not settings.run_store_exists():
        raise fail(f"no run store at {settings.db_path}", 1)
    from pipeline.run.db import StoreError
    from pipeline.run.store import RunStore

    try:  # with a shared store (`store = "postgresql://…"`): every machine's runs, whatever --out
        runs = RunStore(settings.run_store).list_runs(limit, unfinished=unfinished)
    except StoreError as exc:
        raise fail(str(exc), 1) from None
    for r in runs:
        print(f"{r['id']}  {r['status']:<8} {r['started_at']}  {r['topic']}  {r['report_path'] or ''}".rstrip())


class _ErrorPrefix:
    """stderr with one prefix for every error: a line that starts `error: ` or `Error: ` (a command of
    another room, a library) is written as `yanbao: `. Everything else passes through unchanged."""

    _PREFIXES = ("error: ", "Error: ")

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._line_start = True

    def write(self, text: str) -> int:
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if (i > 0 or self._line_start) and line.startswith(self._PREFIXES):
                lines[i] = "yanbao: " + line[len("error: "):]
        if text:
            self._line_start = text.endswith("\n")
        self._stream.write("\n".join(lines))
        return len(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def main() -> None:
    sys.stderr = _ErrorPrefix(sys.stderr)
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        # Typer vendors click in recent releases and uses the click package in older ones, so match
        # the exception by class name. Usage errors become one line (typer would draw a box).
        names = {cls.__name__ for cls in type(exc).__mro__}
        if "NoArgsIsHelpError" in names:
            code = 0
        elif "ClickException" in names:
            format_message = getattr(exc, "format_message", None)
            message = str(format_message() if callable(format_message) else exc)
            print(f"yanbao: {' '.join(message.split())}", file=sys.stderr)
            code = getattr(exc, "exit_code", 2)
        elif "Abort" in names:
            print("yanbao: aborted", file=sys.stderr)
            code = 130
        elif "StoreError" in names:  # the shared store failed a command that has no handler of its own
            print(f"yanbao: {' '.join(str(exc).split())}", file=sys.stderr)
            code = 1
        else:
            raise
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
