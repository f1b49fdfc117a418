"""What every command shares: one-line failures, settings from flags, running a report.

Kept apart from `app.py` so that the commands of other rooms (`digest`, `schedule`, `queue`, `facts`,
`mcp`) use them without importing the app that registers them (no import circle). Light at import:
typer only; the runner loads when a report is run.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.run.runner import RunOutcome


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr (`yanbao: …`) and return the Exit to raise."""
    print(f"yanbao: {message}", file=sys.stderr)
    return typer.Exit(code)


def load(flags: Mapping[str, object], config: Path | None) -> tuple[Settings, dict[str, str]]:
    """The effective settings and where each value came from; a broken yanbao.toml is one line, exit 2."""
    from pipeline.config import ConfigError, load_settings

    try:
        loaded, origin = load_settings(flags, config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    check_kind(loaded.kind, origin.get("kind", "default"))
    return loaded, origin


def check_kind(kind: str, origin: str) -> None:
    """The `kind` setting names a registered kind (`pipeline.kinds`); worded as the other settings' errors.
    Checked here, not in `pipeline.config`: the registry imports the kinds, which import the settings."""
    from pipeline import kinds

    try:
        known = kinds.names()
    except kinds.KindError as exc:  # a broken plugin
        raise fail(str(exc)) from None
    if kind not in known:
        quoted = [f"'{n}'" for n in known]
        expected = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        raise fail(f"invalid kind = {kind!r} (from {origin}): Input should be {expected}")


def settings(flags: Mapping[str, object], config: Path | None) -> Settings:
    """`load` without the origins."""
    return load(flags, config)[0]


def print_files(outcome: RunOutcome) -> None:
    """stdout: every file the run wrote, one per line, the report last (other tools read the last line)."""
    for path in outcome.files:
        print(path)


def execute(
    settings: Settings, topic: str, *, resume: str | None = None, day: str | None = None, stem: str | None = None,
    topics: list[str] | None = None, overwrite: bool = False,
) -> RunOutcome:
    """Run one report with progress on stderr; every way it can fail becomes one line and an exit code
    (2 bad input, 1 the run failed). Shared by `run`, `digest` and the scheduler's CLI."""
    import sqlite3  # here, not at import: `yanbao --help` loads this module

    from pipeline.progress import Progress
    from pipeline.run.db import StoreError
    from pipeline.run.runner import BadInput, ModelFailed, RunFailed, run_report

    progress = Progress(quiet=settings.quiet)
    try:
        with progress:
            outcome = run_report(
                settings, topic, progress=progress.line, warn=progress.warn, on_call=progress.call, resume=resume,
                day=day, stem=stem, topics=topics, overwrite=overwrite,
            )
    except BadInput as exc:
        raise fail(str(exc), 2) from None
    except ModelFailed as exc:  # the model failed: its report is kept for inspection
        print_files(exc.outcome)
        raise fail(str(exc), 1) from None
    except RunFailed as exc:
        raise fail(str(exc), 1) from None
    except sqlite3.Error as exc:
        raise fail(f"run store error ({settings.db_path}): {exc}", 1) from None
    except StoreError as exc:  # the shared store (PostgreSQL): the message names it, without a password
        raise fail(str(exc), 1) from None
    except OSError as exc:
        raise fail(f"{exc.filename or 'output'}: {exc.strerror or exc}", 1) from None
    progress.summary(outcome.manifest)
    return outcome
