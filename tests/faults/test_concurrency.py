"""Two yanbao processes on one run store: no corruption, and one report is never written twice at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fake_ollama import FakeOllama
from faultkit import clean_env, integrity, run_args, yanbao_cmd


def test_two_processes_same_report_one_wins_cleanly(corpus, tmp_path: Path):
    out = tmp_path / "out"
    with FakeOllama(models=["qwen2.5:7b"], delay_s=0.05) as fake:
        procs = [
            subprocess.Popen(yanbao_cmd(*run_args(fake.url, corpus, out)), env=clean_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 1], results
    loser = next(r for r in results if r[0] == 1)
    assert "another yanbao run is writing" in loser[2] and loser[2].count("\n") == 1
    assert len(list(out.glob("*.md"))) == 1 and not list(out.glob(".*.tmp"))
    assert integrity(out) == "ok"


def test_two_processes_different_topics_share_the_store(corpus, tmp_path: Path):
    out = tmp_path / "out"
    with FakeOllama(models=["qwen2.5:7b"], delay_s=0.02) as fake:
        args = [run_args(fake.url, corpus, out), run_args(fake.url, corpus, out)]
        args[1][1] = "数据中心电力"
        procs = [subprocess.Popen(yanbao_cmd(*a), env=clean_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for a in args]
        for p in procs:
            assert p.wait(timeout=120) == 0, p.stderr.read()
    assert len(list(out.glob("*.md"))) == 2
    assert integrity(out) == "ok"
