"""`yanbao schedule list|run` and `yanbao diff`: light module, imported by the CLI at start-up.

The scheduler itself is pipeline/run/schedule.py, the diff pipeline/facts/diff.py; both load when a command runs.
Exit codes: 0 done (or nothing due, or skipped because another scheduler holds the job); 1 at least one
job failed; 2 bad input (the jobs file, a job's field, the reports given to diff).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.common import fail

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.run.schedule import Job, JobResult, Publish
    from pipeline.run.worker import Broker

schedule_app = typer.Typer(no_args_is_help=True, help="Scheduled jobs from jobs.toml.")

JobsOpt = Annotated[
    Path, typer.Option("--jobs", envvar="YANBAO_JOBS", help="Jobs file: one table per job (see README, 定时任务).")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (default ./yanbao.toml).")]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="Evaluate the schedule at this time (ISO 8601, local time unless it has an offset) instead of now."),
]



def _clock(at: str | None) -> Callable[[], datetime]:
    if at is None:
        return lambda: datetime.now().astimezone()
    try:
        fixed = datetime.fromisoformat(at)
    except ValueError:
        raise fail(f"--at {at!r} is not an ISO 8601 time such as 2025-06-01T08:00") from None
    fixed = fixed if fixed.tzinfo is not None else fixed.astimezone()
    return lambda: fixed


def _load(jobs_file: Path, config: Path | None, check_writable: bool) -> list[Job]:
    from pipeline.run.schedule import JobsError, load_jobs

    try:
        return load_jobs(jobs_file, config, check_writable=check_writable)
    except JobsError as exc:
        raise fail(str(exc)) from None


def _local(ts: str | None) -> str:
    if not ts:
        return "—"
    return datetime.fromisoformat(ts).astimezone().strftime("%Y-%m-%d %H:%M")


@schedule_app.command("list")
def schedule_list(
    jobs_file: JobsOpt = Path("jobs.toml"),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    at: AtOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every job: its cron, its last run and status, its next run, and whether it is due now."""
    from pipeline.run.schedule import status

    jobs = _load(jobs_file, config, check_writable=False)
    now = _clock(at)()
    rows = [status(j, now) for j in jobs]
    if json_out:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    head = ("JOB", "KIND", "CRON", "LAST RUN", "STATUS", "NEXT RUN", "DUE")
    table = [
        (r["name"], r["kind"], r["cron"], _local(r["last_run"]), r["status"], _local(r["next_run"]),
         "yes" if r["due"] else "no")
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table, strict=False)]
    for line in (head, *table):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)).rstrip())
    for r in rows:
        if r["status"] == "failed" and r["error"]:
            print(f"{r['name']}: last run failed: {r['error']}")


@schedule_app.command("run")
def schedule_run(
    names: Annotated[list[str] | None, typer.Argument(metavar="JOB", help="Job names (with --now).", show_default=False)] = None,
    due: Annotated[bool, typer.Option("--due", help="Run every job that is due (once per missed stretch of slots).")] = False,
    now_flag: Annotated[bool, typer.Option("--now", help="Run the named jobs now, due or not.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Jobs run at once.")] = 4,
    queue: Annotated[bool, typer.Option("--queue", help="Hand the jobs' reports to the workers (yanbao worker) instead of running them here.")] = False,
    jobs_file: JobsOpt = Path("jobs.toml"),
    at: AtOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run due jobs (`--due`, for cron or a systemd timer) or named ones (`JOB... --now`). One line per
    job on stdout; exit 1 when any job failed (with --queue: could not be queued)."""
    from pipeline.run.schedule import JobsError, due_jobs, queue_job, run_jobs, select

    names = names or []
    if due == bool(names) or (names and not now_flag) or (due and now_flag):
        raise fail("give either --due, or job names with --now: yanbao schedule run --due | yanbao schedule run JOB --now")
    jobs = _load(jobs_file, config, check_writable=True)
    clock = _clock(at)
    now = clock()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    if due:
        chosen = due_jobs(jobs, now)
        if not chosen:
            print(f"[{stamp}] nothing due ({len(jobs)} job{'s' if len(jobs) != 1 else ''})")
            return
    else:
        try:
            chosen = select(jobs, names, jobs_file)
        except JobsError as exc:
            raise fail(str(exc)) from None

    def report(res: JobResult) -> None:
        at_ = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if res.status == "queued":
            print(f"[{at_}] {res.job}: queued: {', '.join(res.run_ids)}", flush=True)
        elif res.status == "done":
            paths = ", ".join(str(p) for p in res.reports)
            note = f" ({res.note})" if res.note else ""
            print(f"[{at_}] {res.job}: done in {res.seconds:.1f} s: {paths}{note}", flush=True)
        elif res.status == "skipped":
            print(f"[{at_}] {res.job}: skipped: {res.note}", flush=True)
        else:
            print(f"[{at_}] {res.job}: FAILED: {res.error}", flush=True)

    def warn(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    trigger = "due" if due else "now"
    if queue:
        from pipeline.cli.queue import connect

        brokers: dict[str, Broker] = {}
        for job in chosen:  # exit 1 at once when a broker is down, before anything is recorded
            if job.settings.broker not in brokers:
                brokers[job.settings.broker] = connect(job.settings)

        def publish_for(settings: Settings) -> Publish:
            return brokers[settings.broker].publish

        results: list[JobResult] = []
        for job in chosen:
            results.append(queue_job(job, now, publish_for, trigger))
            report(results[-1])
    else:
        results = run_jobs(
            chosen, now, trigger=trigger, concurrency=concurrency, clock=clock, on_result=report, warn=warn,
        )
    failed = [r for r in results if r.status == "failed"]
    done = sum(1 for r in results if r.status == "done")
    skipped = sum(1 for r in results if r.status == "skipped")
    queued = sum(1 for r in results if r.status == "queued")
    print(f"[{stamp}] {len(results)} job(s): " + (f"{queued} queued, " if queue else f"{done} done, ")
          + f"{len(failed)} failed, {skipped} skipped"
          + (f"; failed: {', '.join(r.job for r in failed)}" if failed else ""))
    if failed:
        raise typer.Exit(1)


def diff(
    old: Annotated[Path, typer.Argument(help="The earlier report (.md).", show_default=False)],
    new: Annotated[Path, typer.Argument(help="The later report (.md).", show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for tools.")] = False,
) -> None:
    """What changed between two reports: numbers added, removed or changed (matched by what they are
    about), and sources added or dropped."""
    from pipeline.facts.diff import DiffError, diff_files, format_text

    try:
        result = diff_files(old, new)
    except DiffError as exc:
        raise fail(str(exc)) from None
    if json_out:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(format_text(result))
