"""Helpers for the shared-store tests: `yanbao` subprocesses pointed at a PostgreSQL store, a process
that holds an advisory lock until killed, and reads of the shared run store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from clikit import ROOT, clean_env, yanbao_cmd

TOPIC = "人工智能发展趋势"


def store_env(url: str) -> dict:
    """The clean test environment with the shared store chosen the way users choose it."""
    env = clean_env()
    env["YANBAO_STORE"] = url
    return env


def run_args(host: str, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", TOPIC, "--llm", "ollama", "--ollama-host", host, "--search", "local", "--sources", str(corpus),
        "--out", str(out), "--breadth", "2", "--max-loops", "2", "--quiet", "--max-retries", "0", *extra,
    ]


def yanbao(url: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(yanbao_cmd(*args), env=store_env(url), capture_output=True, text=True, timeout=timeout)


def spawn(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(yanbao_cmd(*args), env=store_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


HOLDER = """
import sys, time
from pathlib import Path
from pipeline.run.locks import Exclusive
with Exclusive(sys.argv[1], sys.argv[2], Path(sys.argv[3])) as lock:
    print("held" if lock.acquired else "busy", flush=True)
    time.sleep(600)
"""


def hold_lock(url: str, name: str, path: Path) -> subprocess.Popen[str]:
    """Another process (another machine, as far as the lock knows) that holds lock `name` until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, name, str(path)], env=clean_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "held", line
    return proc


def wait_for(predicate, timeout: float = 30, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def request_key(req: dict) -> str:
    return json.dumps({"m": req.get("messages"), "f": req.get("format"), "o": req.get("options")},
                      sort_keys=True, ensure_ascii=False)


def cached_replies(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM cache WHERE namespace = 'llm'").fetchone()[0])


def report_files(out: Path) -> list[str]:
    """What a run left in its out folder besides the local search index (and its SQLite side files)."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("index.db"))
