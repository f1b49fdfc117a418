"""PostgreSQL restarts in the middle of a run: the run stops cleanly (one `yanbao:` line naming the run
to resume, exit 1, nothing written to out/), and the resume finishes it to the report an uninterrupted
run writes, sending only the LLM requests whose replies the store does not hold."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from storekit import cached_replies, report_files, request_key, run_args, spawn, wait_for, yanbao

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[scale]'")


def test_postgres_restart_mid_run_fails_cleanly_then_resumes(
    postgres_server, postgres_url: str, fake_ollama, corpus: Path, tmp_path: Path
) -> None:
    baseline_url = postgres_server.create_database()
    try:
        base = yanbao(baseline_url, *run_args(fake_ollama.url, corpus, tmp_path / "baseline"))
    finally:
        postgres_server.drop_database(baseline_url)
    assert base.returncode == 0, base.stderr
    baseline = Path(base.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8")
    wanted = Counter(request_key(r) for r in fake_ollama.requests if r.get("messages"))
    assert max(wanted.values()) == 1 and len(wanted) >= 10

    fake_ollama.reset()
    fake_ollama.delay_s = 0.3  # a run of several seconds, so the restart lands in the middle
    out = tmp_path / "out"
    proc = spawn(postgres_url, *run_args(fake_ollama.url, corpus, out))
    assert wait_for(lambda: len(fake_ollama.requests) >= 3 or proc.poll() is not None, timeout=60)
    assert proc.poll() is None, "the run ended before the restart"
    postgres_server.stop()  # fast shutdown: every session is terminated, as in a restart or failover
    time.sleep(1.0)
    postgres_server.start()
    stdout, stderr = proc.communicate(timeout=180)
    before = {request_key(r) for r in fake_ollama.requests if r.get("messages")}

    assert proc.returncode == 1, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("yanbao: "), stderr
    assert "unavailable" in lines[0] and "yanbao run --resume " in lines[0]
    run_id = lines[0].rsplit("yanbao run --resume ", 1)[1].strip()
    assert stdout == ""
    assert report_files(out) == []  # no report, no run.json, no temp file, no lock file
    assert len(before) < len(wanted)

    listed = yanbao(postgres_url, "runs", "list", "--unfinished", "--out", str(tmp_path / "elsewhere"))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:2] == [run_id, "interrupted"]

    stored = cached_replies(postgres_url)
    fake_ollama.reset()
    fake_ollama.delay_s = 0.0
    res = yanbao(postgres_url, "run", "--resume", run_id, "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8") == baseline
    again = Counter(request_key(r) for r in fake_ollama.requests if r.get("messages"))
    assert max(again.values()) == 1, "the resume sent a request twice"
    # only what was not stored is sent again; together the two attempts asked what the baseline asked
    assert len(again) == len(wanted) - stored
    assert before | set(again) == set(wanted)
