"""Ollama going away mid-run: a clear failure naming the step, completed work kept, then a resume."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fake_ollama import CutStream, Drop, FakeOllama, Garbage, Sleep, Status
from faultkit import integrity, report_of, run_args, unfinished_run


def test_ollama_down_mid_run_fails_clearly_and_resume_finishes(corpus, run_yanbao, tmp_path: Path):
    out = tmp_path / "out"
    with FakeOllama(models=["qwen2.5:7b"]) as fake:
        port = fake.port
        baseline_dir = tmp_path / "baseline"
        base = run_yanbao(*run_args(fake.url, corpus, baseline_dir))
        assert base.returncode == 0, base.stderr
        fake.reset()
        calls_before_stop = 6

        def responder(request):
            if len(fake.requests) > calls_before_stop:
                fake._stopping.set()  # the server "crashes": this and later requests get no reply
            return None

        fake.responder = responder
        res = run_yanbao(*run_args(fake.url, corpus, out), timeout=120)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.returncode == 1, res.stderr
    assert len(lines) == 1 and lines[0].startswith("yanbao: ") and "Ollama" in lines[0]
    assert "research[" in lines[0] or "analysis[" in lines[0] or "supervisor" in lines[0]  # names the step
    run_id = unfinished_run(out)
    assert run_id is not None
    with sqlite3.connect(out / "yanbao.db") as conn:
        kept = conn.execute("SELECT COUNT(*) FROM cache WHERE namespace='llm'").fetchone()[0]
        status = conn.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()[0]
    assert kept >= calls_before_stop and status == "failed"
    assert not list(out.glob("*.md"))  # no partial report

    with FakeOllama(models=["qwen2.5:7b"], port=port) as again:  # "Ollama restarted" on the same port
        res = run_yanbao("run", "--resume", run_id, "--out", str(out), "--quiet")
        assert res.returncode == 0, res.stderr
        assert len(again.requests) <= (len(list(range(22))) - kept) + 1
    assert report_of(out).read_text(encoding="utf-8") == report_of(baseline_dir).read_text(encoding="utf-8")
    assert integrity(out) == "ok"


def test_transient_faults_are_retried_with_backoff(corpus, run_yanbao, tmp_path: Path):
    with FakeOllama(models=["qwen2.5:7b"]) as fake:
        fake.script(Status(500, "boom"), Drop(), CutStream(after_chunks=1), Garbage())
        res = run_yanbao(*run_args(fake.url, corpus, tmp_path / "out", "--breadth", "1", "--max-loops", "1")[:-2],
                         "--max-retries", "4", "--stream")
        assert res.returncode == 0, res.stderr
        m = __import__("json").loads(next((tmp_path / "out").glob("*.run.json")).read_text(encoding="utf-8"))
        assert m["llm"]["calls"] == m["llm"]["tasks"] + 4


def test_timeouts_exhaust_retries_and_name_the_step(corpus, run_yanbao, tmp_path: Path):
    with FakeOllama(models=["qwen2.5:7b"]) as fake:
        fake.script(Sleep(5), Sleep(5), Sleep(5))
        (tmp_path / "yanbao.toml").write_text("timeout_s = 0.5\n", encoding="utf-8")
        res = run_yanbao(*run_args(fake.url, corpus, tmp_path / "out")[:-2], "--max-retries", "2",
                         "--config", str(tmp_path / "yanbao.toml"))
    assert res.returncode == 1
    assert "supervisor.plan" in res.stderr and "3 attempts" in res.stderr
