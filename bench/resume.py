"""Benchmark: the cost of resuming a run, and the run store's overhead per LLM call.

Prints its figures; it is not a test. Run: .venv/bin/python bench/resume.py
Targets: resuming a run that is 90 % done takes < 1 s beyond the LLM time still owed; recording and
caching one LLM call costs < 5 ms.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fake_ollama import FakeOllama  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from scripted import responder  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.llm.base import Completion, Task  # noqa: E402
from pipeline.models import TaskContext  # noqa: E402
from pipeline.run.runner import load_resume, run_report  # noqa: E402
from pipeline.run.store import RecordingLLM, RunStore  # noqa: E402


def resume_cost(delay: float) -> None:
    with FakeOllama(models=["qwen2.5:7b"], delay_s=delay) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.responder = responder
        out = Path(tmp) / "out"
        settings, _ = load_settings(
            {"llm": "ollama", "ollama_host": fake.url, "search": "local", "sources": ROOT / "sources", "out": out,
             "breadth": 3, "max_loops": 3, "concurrency": 2},
            env={},
        )
        quiet = {"progress": lambda _m: None, "warn": lambda _m: None}
        full = run_report(settings, "人工智能发展趋势", **quiet)
        total_calls = full.manifest["llm"]["calls"]
        # Make it a run that died 90 % of the way: forget the last 10 % of its replies, mark it running.
        db = out / "yanbao.db"
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT rowid FROM cache WHERE namespace='llm' ORDER BY rowid").fetchall()
            drop = rows[int(len(rows) * 0.9):]
            conn.executemany("DELETE FROM cache WHERE rowid=?", drop)
            conn.execute("UPDATE runs SET status='running' WHERE id=?", (full.run_id,))
        full.report_path.unlink()
        backup = Path(tmp) / "backup.db"
        shutil.copy(db, backup)

        resumed_settings, topic, day = load_resume(out, full.run_id)
        started = time.perf_counter()
        outcome = run_report(resumed_settings, topic, resume=full.run_id, day=day, **quiet)
        wall = time.perf_counter() - started
        sent = outcome.manifest["llm"]["calls"]
        llm_s = outcome.manifest["timings"]["llm_s"]
        print(f"resume: full run {total_calls} LLM calls; resumed run sent {sent} "
              f"({len(drop)} replies were missing), wall {wall:.2f} s, inside LLM calls {llm_s:.2f} s")
        over = wall - llm_s
        print(f"  resume cost beyond the remaining LLM time: {over:.3f} s (target < 1 s) "
              f"{'OK' if over < 1 else 'MISSED'}")


class Slot(BaseModel):
    text: str


class Instant:
    provider = "bench"
    model = "instant"

    def cache_identity(self) -> dict:
        return {"provider": "bench"}

    def complete(self, task: Task) -> Completion:
        return Completion(value=Slot(text="回答" * 200), requests=1, prompt_tokens=800, completion_tokens=200)


def store_overhead(n: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "y.db")
        llm = RecordingLLM(Instant(), store, store.start_run("t", "research", {}))
        ctx = TaskContext(topic="人工智能", summary="摘要" * 500)
        tasks = [
            Task(step=f"s{i}", kind="k", schema=Slot, messages=[{"role": "user", "content": f"问题{i}" + "资料" * 1500}],
                 context=ctx)
            for i in range(n)
        ]
        started = time.perf_counter()
        for t in tasks:
            llm.complete(t)
        miss = (time.perf_counter() - started) / n * 1000
        started = time.perf_counter()
        for t in tasks:
            llm.complete(t)
        hit = (time.perf_counter() - started) / n * 1000
    print(f"run store: {miss:.2f} ms per recorded+cached LLM call, {hit:.2f} ms per cache hit "
          f"(prompts of ~3 000 characters; target < 5 ms) {'OK' if miss < 5 else 'MISSED'}")


if __name__ == "__main__":
    resume_cost(delay=0.1)
    store_overhead()
