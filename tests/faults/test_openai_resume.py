"""`--llm openai` runs killed or cut off mid-run resume with only the missing requests, to the same report
(the Ollama engine's guarantees, tests/faults/test_resume.py, held by the OpenAI-compatible engine)."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from faultkit import cached_replies, clean_env, integrity, report_of, unfinished_run, yanbao_cmd

MODEL = "qwen2.5-7b-instruct"
KEY = "sk-resume-test-4e1d"
KILLS = 4


def run_args(base_url: str, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", "人工智能发展趋势", "--llm", "openai", "--base-url", base_url, "--model", MODEL, "--search", "local",
        "--sources", str(corpus), "--out", str(out), "--breadth", "2", "--max-loops", "2", "--quiet",
        "--max-retries", "0", *extra,
    ]


def request_key(req: dict) -> str:
    return json.dumps({k: req.get(k) for k in ("messages", "response_format", "max_tokens", "temperature", "seed")},
                      sort_keys=True, ensure_ascii=False)


def env() -> dict:
    return clean_env({"OPENAI_API_KEY": KEY})


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(yanbao_cmd(*args), env=env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def fake():
    with FakeOpenAI(models=[MODEL], api_key=KEY, delay_s=0.03) as f:
        yield f


def test_sigkill_at_random_points_then_resume(fake, corpus, tmp_path: Path):
    base_out = tmp_path / "baseline"
    base = run(*run_args(fake.base_url, corpus, base_out))
    assert base.returncode == 0, base.stderr
    baseline = report_of(base_out).read_text(encoding="utf-8")
    baseline_keys = Counter(request_key(r) for r in fake.requests)
    assert max(baseline_keys.values()) == 1

    rng = random.Random(20261129)
    for i in range(KILLS):
        fake.reset()
        out = tmp_path / f"kill-{i}"
        proc = subprocess.Popen(yanbao_cmd(*run_args(fake.base_url, corpus, out)), env=env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        target = rng.randint(1, len(baseline_keys) - 1)
        deadline = time.time() + 60
        while len(fake.requests) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        before_kill = {request_key(r) for r in fake.requests}
        completed = cached_replies(out)
        fake.reset()
        run_id = unfinished_run(out)
        assert run_id is not None, f"kill {i} landed outside the run"
        res = run("run", "--resume", run_id, "--out", str(out), "--quiet")
        assert res.returncode == 0, (i, res.stderr)
        assert report_of(out).read_text(encoding="utf-8") == baseline, f"kill {i}: report differs"
        assert integrity(out) == "ok" and unfinished_run(out) is None
        again = Counter(request_key(r) for r in fake.requests)
        assert max(again.values(), default=1) == 1, f"kill {i}: a request was sent twice by the resume"
        assert len(again) == len(baseline_keys) - completed, f"kill {i}: {len(again)} sent, {completed} done"
        assert before_kill | set(again) == set(baseline_keys), f"kill {i}: requests differ from the baseline"
        assert set(fake.auth_headers) == {f"Bearer {KEY}"}  # the resume read the key from the environment again


def test_server_down_mid_run_fails_clearly_and_resume_finishes(corpus, tmp_path: Path):
    out = tmp_path / "out"
    with FakeOpenAI(models=[MODEL], api_key=KEY) as fake:
        port = fake.port
        baseline_dir = tmp_path / "baseline"
        assert run(*run_args(fake.base_url, corpus, baseline_dir)).returncode == 0
        total = len(fake.requests)
        fake.reset()
        stop_after = 6

        def responder(request):
            if len(fake.requests) > stop_after:
                fake._stopping.set()  # the server "crashes": this and later requests get no reply
            return None

        fake.responder = responder
        res = run(*run_args(fake.base_url, corpus, out))
        base_url = fake.base_url
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.returncode == 1 and len(lines) == 1 and lines[0].startswith("yanbao: "), res.stderr
    assert base_url in lines[0] and ("research[" in lines[0] or "analysis[" in lines[0])
    run_id = unfinished_run(out)
    assert run_id is not None and not list(out.glob("*.md"))
    with sqlite3.connect(out / "yanbao.db") as conn:
        kept = conn.execute("SELECT COUNT(*) FROM cache WHERE namespace='llm'").fetchone()[0]
    assert kept >= stop_after

    with FakeOpenAI(models=[MODEL], api_key=KEY, port=port) as again:  # restarted on the same port
        res = run("run", "--resume", run_id, "--out", str(out), "--quiet")
        assert res.returncode == 0, res.stderr
        assert len(again.requests) == total - kept
    assert report_of(out).read_text(encoding="utf-8") == report_of(baseline_dir).read_text(encoding="utf-8")
    assert integrity(out) == "ok"
