"""Benchmark: pipeline overhead and concurrency speed-up against a fake LLM server that sleeps 200 ms a
request: the fake Ollama (`--llm ollama`) and the fake OpenAI-compatible server (`--llm openai`).

Prints its figures; it is not a test. Run: .venv/bin/python bench/pipeline_overhead.py [--llm ollama|openai|all]
Targets, per engine: overhead (wall - time inside LLM calls) < 5 % of wall at concurrency 1;
concurrency 2 at least 1.6x faster than 1; `yanbao --help` starts in < 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fake_ollama import FakeOllama  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402
from scripted import responder  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.run.runner import run_report  # noqa: E402

OPENAI_MODEL = "qwen2.5-7b-instruct"


def one_run(engine: str, url: str, concurrency: int, breadth: int, loops: int, out: Path | None = None) -> dict:
    """One run with the cache off (every LLM request is sent). `out=None`: a fresh output folder, so the
    run also builds the local index and loads facts.yaml; otherwise a folder already used, as a
    scheduled job's is."""
    server = {"ollama_host": url} if engine == "ollama" else {"base_url": url, "model": OPENAI_MODEL}
    with tempfile.TemporaryDirectory() as tmp:
        settings, _ = load_settings(
            {
                "llm": engine, **server, "search": "local", "sources": ROOT / "sources",
                "out": out or Path(tmp), "breadth": breadth, "max_loops": loops, "concurrency": concurrency,
                "cache": False,
            },
            env={},
        )
        started = time.perf_counter()
        outcome = run_report(settings, "人工智能发展趋势", progress=lambda _m: None, warn=lambda _m: None)
        wall = time.perf_counter() - started
        return {"wall": wall, **outcome.manifest}


def startup_seconds(repeats: int = 5) -> float:
    """Median start-up of `yanbao --help`, as a user's Python runs it: with its .pyc cache (any value
    of PYTHONDONTWRITEBYTECODE turns the cache off and every start compiles the package from source)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(ROOT / ".venv" / "bin" / "yanbao"), "--help"], capture_output=True, check=True, env=env)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "yanbao"), "--help"], capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fake_server(engine: str, delay: float) -> FakeOllama | FakeOpenAI:
    if engine == "ollama":
        return FakeOllama(models=["qwen2.5:7b"], delay_s=delay)
    return FakeOpenAI(models=[OPENAI_MODEL], delay_s=delay)


def measure(engine: str, args: argparse.Namespace) -> None:
    """The rows of one engine: a used output folder at concurrency 1 and 2, then a fresh one."""
    with fake_server(engine, args.delay) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.responder = responder
        url = fake.url if isinstance(fake, FakeOllama) else fake.base_url
        out = Path(tmp)
        # Warm-up with the same plan (at concurrency 2, for speed): jieba, imports, this folder's index and
        # the facts of the sources it reads, as a scheduled job's folder has them from yesterday's run.
        one_run(engine, url, 2, args.breadth, args.loops, out)
        seq = one_run(engine, url, 1, args.breadth, args.loops, out)
        par = one_run(engine, url, 2, args.breadth, args.loops, out)
        fresh = one_run(engine, url, 1, args.breadth, args.loops)

    server = "fake Ollama" if engine == "ollama" else "fake OpenAI-compatible server"
    print(f"--llm {engine}: {server} sleeping {args.delay * 1000:.0f} ms per request; "
          f"breadth {args.breadth}, {args.loops} loops, local search over sources/")
    for label, m in (("concurrency 1", seq), ("concurrency 2", par), ("concurrency 1, fresh output folder", fresh)):
        llm_s = m["timings"]["llm_s"]
        overhead = m["wall"] - llm_s
        print(
            f"  {label}: LLM calls {m['llm']['calls']}, tokens {m['llm']['prompt_tokens']}+"
            f"{m['llm']['completion_tokens']}, wall {m['wall']:.2f} s, inside LLM calls {llm_s:.2f} s, "
            f"overhead {overhead:.2f} s = {100 * overhead / m['wall']:.1f} % of wall"
        )
    seq_over = 100 * (seq["wall"] - seq["timings"]["llm_s"]) / seq["wall"]
    speedup = seq["wall"] / par["wall"]
    print(f"  overhead at concurrency 1 (output folder in use): {seq_over:.1f} % (target < 5 %) "
          f"{'OK' if seq_over < 5 else 'MISSED'}")
    print(f"  speed-up of concurrency 2 over 1: {speedup:.2f}x (target >= 1.6x) {'OK' if speedup >= 1.6 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--breadth", type=int, default=3)
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--llm", choices=["ollama", "openai", "all"], default="all")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    for engine in ("ollama", "openai") if args.llm == "all" else (args.llm,):
        measure(engine, args)
    print(f"machine load average (1 min): {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          f"on {os.cpu_count()} cores (other jobs inflate the overhead)")
    startup = startup_seconds()
    print(f"yanbao --help start-up: {startup:.3f} s median of 5 (target < 0.5 s) {'OK' if startup < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
