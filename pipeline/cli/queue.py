"""`yanbao worker`, `yanbao runs wait`, and the `--queue` paths of `run` and `schedule run`.

Light at import (typer only): Celery loads when one of these commands runs (pipeline/run/worker.py), and
only these commands load it. Celery and redis are the optional `scale` extra; without them these
commands say how to install it (exit 2).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.common import fail
from pipeline.cli.common import settings as load_settings

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.run.store import RunStore
    from pipeline.run.worker import Broker

EXTRA_HINT = "install the scale extra: pip install 'yanbao[scale]'"




def connect(settings: Settings) -> Broker:
    """The broker, checked: Celery missing → exit 2 with the install hint; unreachable → exit 1."""
    try:
        from pipeline.run.worker import Broker
    except ImportError as exc:
        raise fail(f"workers need Celery and redis ({exc.name} is missing); {EXTRA_HINT}") from None
    from pipeline.run.queue import QueueError

    broker = Broker(settings)
    try:
        broker.check()
    except QueueError as exc:
        raise fail(str(exc), 1) from None
    return broker


def queue_report(
    settings: Settings, topic: str, topics: list[str] | None, overwrite: bool, resume: str | None, day: str | None,
) -> str:
    """`yanbao run TOPIC --queue` (or `--resume RUN_ID --queue`): record the run, publish it, return its id.
    Bad input is exit 2 before anything is recorded; a broker that cannot be reached is exit 1."""
    from datetime import date

    from pipeline.run.queue import QueueError, check_queueable, open_store, record_queued, requeue
    from pipeline.run.runner import BadInput

    try:
        if not resume:
            topic = check_queueable(settings, topic, topics)
    except BadInput as exc:
        raise fail(str(exc)) from None
    broker = connect(settings)
    store = open_store(settings.out, settings.store)
    try:
        if resume:
            queue = requeue(store, settings.out, resume, settings.store)
            run_id = resume
        else:
            run_id = record_queued(store, settings, topic, day or date.today().isoformat(), topics=topics,
                                   overwrite=overwrite)
            queue = settings.broker_queue
    except BadInput as exc:
        raise fail(str(exc)) from None
    try:
        broker.publish(run_id, settings.out, queue)
    except QueueError as exc:
        store.finish_run(run_id, "failed", error=f"not queued: {exc}")
        raise fail(str(exc), 1) from None
    return run_id


def worker(
    concurrency: Annotated[int | None, typer.Option(help="Reports this worker runs at once (1-64).", show_default="2")] = None,
    queue: Annotated[str | None, typer.Option(help="Celery queue to take reports from.", show_default="yanbao")] = None,
    broker: Annotated[str | None, typer.Option(help="Broker URL.", show_default="redis://127.0.0.1:6379/0")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder whose run store this worker watches for reports a dead worker left.", show_default="outputs")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    config: Annotated[Path | None, typer.Option("--config", help="Settings file.", show_default="./yanbao.toml or $YANBAO_CONFIG")] = None,
) -> None:
    """Run a worker: take queued reports from the broker and write them, until stopped (SIGTERM lets
    the reports in progress finish; a killed worker's reports are resumed by another worker)."""
    settings = load_settings(
        {"worker_concurrency": concurrency, "broker_queue": queue, "broker": broker, "out": out}, config
    )
    connected = connect(settings)  # one line and exit 1 when the broker is down, rather than Celery's retry loop
    from pipeline.run.worker import run_worker

    run_worker(settings, connected, loglevel=loglevel.upper())


def wait(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The id `yanbao run --queue` printed.", show_default=False)],
    out: Annotated[Path | None, typer.Option(help="Output folder holding the run store.", show_default="outputs")] = None,
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds (exit 1).", show_default="none")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between looks at the run store.")] = 0.5,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No status lines on stderr.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file.", show_default="./yanbao.toml or $YANBAO_CONFIG")] = None,
) -> None:
    """Follow a run to its end; exit with the run's exit code (0 done, 1 failed, 2 bad input, 3 nothing
    relevant) and print its files like `yanbao run`, the report last."""
    settings = load_settings({"out": out}, config)
    if not settings.run_store_exists():
        raise fail(f"no run store at {settings.db_path}", 1)
    from pipeline.run.queue import finished, open_store
    from pipeline.run.runner import BadInput

    store = open_store(settings.out, settings.store)
    started = time.monotonic()
    seen = ""
    while True:
        try:
            end = finished(store, settings.out, run_id, settings.store)
        except BadInput as exc:
            raise fail(str(exc)) from None
        if end is not None:
            break
        row = store.get_run(run_id) or {}
        status = row.get("status", "?")
        if status == "running" and store.load_step(run_id, "queue.task") is None and _interrupted(store, run_id):
            raise fail(f"run {run_id} was interrupted; resume it with: yanbao run --resume {run_id} --out {settings.out}", 1)
        if status != seen and not quiet:
            print(f"run {run_id}: {status}", file=sys.stderr, flush=True)
            seen = status
        if timeout is not None and time.monotonic() - started > timeout:
            raise fail(f"run {run_id} is still {status} after {timeout:g} s", 1)
        time.sleep(interval)
    if end.report_path:
        _print_files(Path(end.report_path))
    if end.exit_code != 0:
        raise fail(end.message or f"run {run_id} {end.status}", end.exit_code)


def _interrupted(store: RunStore, run_id: str) -> bool:
    """A run started by `yanbao run` (not queued) whose process is gone: nobody will finish it."""
    listed = [r for r in store.list_runs(limit=1000, unfinished=True) if r["id"] == run_id]
    return bool(listed) and listed[0]["status"] == "interrupted"


def _print_files(report: Path) -> None:
    """The files the run wrote, the report last (from its run.json when it can be read)."""
    manifest = report.with_name(report.name[:-3] + ".run.json") if report.name.endswith(".md") else None
    files = [report]
    if manifest is not None and manifest.is_file():
        try:
            outputs = json.loads(manifest.read_text(encoding="utf-8")).get("outputs", [])
        except (OSError, ValueError):
            outputs = []
        files = [*(Path(p) for p in outputs if Path(p) != report), manifest, report]
    for path in files:
        print(path)
