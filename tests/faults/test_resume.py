"""A run killed at any point resumes with only the missing LLM requests, to the identical report."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from fake_ollama import FakeOllama
from faultkit import (
    cached_replies,
    clean_env,
    integrity,
    report_of,
    request_key,
    run_args,
    unfinished_run,
    yanbao_cmd,
)

KILLS = 20


@pytest.fixture
def fake():
    with FakeOllama(models=["qwen2.5:7b"], delay_s=0.03) as f:
        yield f


def test_sigkill_at_20_random_points_then_resume(fake, corpus, run_yanbao, tmp_path: Path):
    base_out = tmp_path / "baseline"
    base = run_yanbao(*run_args(fake.url, corpus, base_out))
    assert base.returncode == 0, base.stderr
    baseline = report_of(base_out).read_text(encoding="utf-8")
    baseline_keys = Counter(request_key(r) for r in fake.requests)
    assert max(baseline_keys.values()) == 1

    rng = random.Random(20251121)
    resumed = 0
    for i in range(KILLS):
        fake.reset()
        out = tmp_path / f"kill-{i}"
        proc = subprocess.Popen(yanbao_cmd(*run_args(fake.url, corpus, out)), env=clean_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Kill during a random LLM call: wait until that request has reached the server, then a little more.
        target = rng.randint(1, len(baseline_keys) - 1)
        deadline = time.time() + 60
        while len(fake.requests) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # Every request the killed process sent is counted now, before the reset, not after it as the
        # resume's (under load the server may not have read one yet); one it could not finish sending
        # (killed between the headers and the body) is none (tests/fake_ollama.py `_body`).
        fake.wait_idle()
        before_kill = {request_key(r) for r in fake.requests}
        completed = cached_replies(out)
        fake.reset()
        run_id = unfinished_run(out)
        if run_id is None:
            # Killed before the run was recorded (or after it finished): a plain rerun is the resume.
            res = run_yanbao(*run_args(fake.url, corpus, out))
        else:
            resumed += 1
            res = run_yanbao("run", "--resume", run_id, "--out", str(out), "--quiet")
        assert res.returncode == 0, (i, res.stderr)
        assert report_of(out).read_text(encoding="utf-8") == baseline, f"kill {i}: report differs"
        assert integrity(out) == "ok"
        assert unfinished_run(out) is None
        # Only what had not completed (its reply was not in the run store) is sent again, once each,
        # and together the two processes asked exactly what the uninterrupted run asked.
        again = Counter(request_key(r) for r in fake.requests)
        assert max(again.values(), default=1) == 1, f"kill {i}: a request was sent twice by the resume"
        assert len(again) == len(baseline_keys) - completed, f"kill {i}: {len(again)} sent, {completed} done"
        assert before_kill | set(again) == set(baseline_keys), f"kill {i}: requests differ from the baseline"
    assert resumed == KILLS  # every kill landed mid-run


def test_runs_list_shows_interrupted_runs(fake, corpus, run_yanbao, tmp_path: Path):
    out = tmp_path / "out"
    fake.delay_s = 0.2
    proc = subprocess.Popen(yanbao_cmd(*run_args(fake.url, corpus, out)), env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline and len(fake.requests) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    run_id = unfinished_run(out)
    listed = run_yanbao("runs", "list", "--out", str(out), "--unfinished")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith(run_id))
    assert "interrupted" in line and "人工智能发展趋势" in line
    fake.delay_s = 0.0
    res = run_yanbao("run", "--resume", run_id, "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert run_yanbao("runs", "list", "--out", str(out), "--unfinished").stdout.strip() == ""


def test_resume_of_unknown_or_finished_run_is_a_clear_error(fake, corpus, run_yanbao, tmp_path: Path):
    out = tmp_path / "out"
    assert run_yanbao(*run_args(fake.url, corpus, out)).returncode == 0
    bad = run_yanbao("run", "--resume", "nope", "--out", str(out))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no run nope" in bad.stderr
    import sqlite3

    with sqlite3.connect(out / "yanbao.db") as conn:
        run_id = conn.execute("SELECT id FROM runs").fetchone()[0]
    done = run_yanbao("run", "--resume", run_id, "--out", str(out))
    assert done.returncode == 2 and "already finished" in done.stderr
