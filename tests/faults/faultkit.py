"""Helpers for the fault-injection suite: real `yanbao` subprocesses against the fake Ollama server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from clikit import clean_env, yanbao_cmd  # noqa: F401  (re-exported for the fault tests)


def run_args(host: str, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", "人工智能发展趋势", "--llm", "ollama", "--ollama-host", host, "--search", "local",
        "--sources", str(corpus), "--out", str(out), "--breadth", "2", "--max-loops", "2", "--quiet",
        "--max-retries", "0", *extra,
    ]


def request_key(req: dict) -> str:
    return json.dumps({"m": req.get("messages"), "f": req.get("format"), "o": req.get("options")},
                      sort_keys=True, ensure_ascii=False)


def unfinished_run(out: Path) -> str | None:
    db = out / "yanbao.db"
    if not db.is_file():
        return None
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT id FROM runs WHERE status != 'done' ORDER BY started_at DESC").fetchone()
    return row[0] if row else None


def integrity(out: Path) -> str:
    with sqlite3.connect(out / "yanbao.db") as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def report_of(out: Path) -> Path:
    reports = sorted(out.glob("*.md"))
    assert len(reports) == 1, reports
    return reports[0]




def cached_replies(out: Path) -> int:
    """LLM replies the run store holds: the requests that completed, from the client's side."""
    db = out / "yanbao.db"
    if not db.is_file():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM cache WHERE namespace='llm'").fetchone()[0]
