"""`yanbao schedule` end to end: real subprocesses, the real runner, the fake Ollama over HTTP."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path


def jobs_text(fake_url: str, corpus: Path) -> str:
    return textwrap.dedent(f'''
        [defaults]
        search = "local"
        sources = "{corpus}"
        breadth = 1
        max_loops = 1
        out = "out"

        [[job]]
        name = "ai-daily"
        kind = "research"
        topics = ["人工智能发展趋势"]
        cron = "0 8 * * *"
        llm = "ollama"
        ollama_host = "{fake_url}"
        model = "qwen2.5:7b"
        formats = ["md", "html"]
        front_matter = true

        [[job]]
        name = "broken"
        topics = ["数据中心电力"]
        cron = "0 8 * * *"
        llm = "ollama"
        ollama_host = "http://127.0.0.1:9"
        max_retries = 0

        [[job]]
        name = "power"
        topics = ["数据中心电力"]
        cron = "30 7 * * *"
        llm = "extractive"
    ''')


def job_rows(out: Path) -> list[dict]:
    with sqlite3.connect(out / "yanbao.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM job_runs ORDER BY id")]


def test_due_run_writes_stable_reports_and_reports_the_failure(fake_ollama, corpus, write_jobs, yanbao, tmp_path):
    write_jobs(jobs_text(fake_ollama.url, corpus))
    out = tmp_path / "out"

    res = yanbao("schedule", "run", "--due", "--at", "2025-06-05T09:00:00+00:00")
    assert res.code == 1, res
    lines = res.stdout.splitlines()
    assert any("ai-daily: done" in x and str(out / "ai-daily.md") in x for x in lines), res.stdout
    assert any("power: done" in x for x in lines), res.stdout
    failed = [x for x in lines if "broken: FAILED" in x]
    assert len(failed) == 1 and "cannot reach Ollama" in failed[0]
    assert "3 job(s): 2 done, 1 failed, 0 skipped; failed: broken" in lines[-1]
    assert "Traceback" not in res.stderr

    # stable names: <out>/<job name>.md, .html, .check.json, .run.json; no date stems, no temp files left
    names = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.endswith(".db") and "-wal" not in p.name and "-shm" not in p.name)
    assert names == ["ai-daily.check.json", "ai-daily.html", "ai-daily.md", "ai-daily.run.json", "power.check.json",
                     "power.md", "power.run.json"], names
    md = (out / "ai-daily.md").read_text(encoding="utf-8")
    assert md.startswith("---\ntitle: 人工智能发展趋势\ndate: 2025-06-05\nkind: research\n")
    assert "<h2>数据核验</h2>" in (out / "ai-daily.html").read_text(encoding="utf-8")

    rows = {r["job"]: r for r in job_rows(out)}
    assert rows["broken"]["status"] == "failed" and "cannot reach Ollama" in rows["broken"]["error"]
    assert rows["ai-daily"]["status"] == "done" and rows["ai-daily"]["report_path"] == str((out / "ai-daily.md").resolve())
    assert rows["ai-daily"]["started_at"] == "2025-06-05T09:00:00+00:00" and rows["ai-daily"]["run_id"]

    # half an hour later nothing is due
    res = yanbao("schedule", "run", "--due", "--at", "2025-06-05T09:30:00+00:00")
    assert res.code == 0 and "nothing due (3 jobs)" in res.stdout

    res = yanbao("schedule", "list", "--at", "2025-06-05T09:30:00+00:00", "--json")
    assert res.code == 0, res
    import json

    listed = {r["name"]: r for r in json.loads(res.stdout)}
    assert listed["broken"]["status"] == "failed" and not listed["broken"]["due"]
    assert listed["ai-daily"]["next_run"] == "2025-06-06T08:00:00+00:00"
    res = yanbao("schedule", "list")
    assert res.code == 0 and "broken: last run failed: cannot reach Ollama" in res.stdout
    assert res.stdout.splitlines()[0].split() == ["JOB", "KIND", "CRON", "LAST", "RUN", "STATUS", "NEXT", "RUN", "DUE"]

    # JOB --now re-runs one job; its report is replaced in place
    before = (out / "ai-daily.md").stat().st_ino
    res = yanbao("schedule", "run", "ai-daily", "--now", "--at", "2025-06-05T09:40:00+00:00")
    assert res.code == 0, res
    assert (out / "ai-daily.md").stat().st_ino != before  # renamed over, not rewritten in place
    assert not list(out.glob(".*.tmp"))
    assert [r["trigger"] for r in job_rows(out) if r["job"] == "ai-daily"] == ["due", "now"]


HOLD = """
import fcntl, sys, time
fh = open(sys.argv[1], "a+")
fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
time.sleep(60)
"""


def test_job_locked_by_another_scheduler_is_skipped(corpus, write_jobs, yanbao, tmp_path):
    write_jobs(textwrap.dedent(f'''
        [[job]]
        name = "power"
        topics = ["数据中心电力"]
        cron = "*/10 * * * *"
        llm = "extractive"
        search = "local"
        sources = "{corpus}"
        breadth = 1
        max_loops = 1
        out = "out"
    '''))
    lock = tmp_path / "out" / ".locks" / "job-power.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for args in (["--due"], ["power", "--now"]):
            res = yanbao("schedule", "run", *args)
            assert res.code == 0, res
            assert "power: skipped: another scheduler is running it" in res.stdout, res.stdout
            assert "0 done, 0 failed, 1 skipped" in res.stdout
        assert not (tmp_path / "out" / "power.md").exists()
    finally:
        holder.kill()
        holder.wait()
    res = yanbao("schedule", "run", "power", "--now")
    assert res.code == 0 and "power: done" in res.stdout, res
    assert (tmp_path / "out" / "power.md").is_file()
