"""Benchmark: what the run store costs per recorded LLM call, on SQLite and on PostgreSQL.

Prints its figures; it is not a test. Run: .venv/bin/python bench/store_overhead.py [--store URL]
(`--store` measures an existing PostgreSQL instead of a private one started for the run; it needs
yanbao[scale], and PostgreSQL installed unless --store is given).

What is measured: `RecordingLLM.complete` around an engine that answers at once, so the time is the
store's alone (hashing the prompt, reading the cache, writing the call record and the reply): a miss
(a request is sent: get + record + put) and a hit (a rerun: get + record). Prompts of ~3 000
characters, as in bench/resume.py. One thread (the latency one call adds), and 4 threads on one store
(what a run with --concurrency 4, or 4 workers, pay per call when they write together).

PostgreSQL is measured as installed (every commit flushed to disk: `synchronous_commit = on`) and with
`synchronous_commit = off` for this database, which a newsroom may choose: a server crash can then lose
the last few hundred milliseconds of commits, i.e. a few cached replies that a resume sends again.

`measure()` is the function bench/scale_out.py calls for its own report.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402

from pipeline.llm.base import Completion, Task  # noqa: E402
from pipeline.models import TaskContext  # noqa: E402
from pipeline.run.store import RecordingLLM, RunStore  # noqa: E402


class Slot(BaseModel):
    text: str


class Instant:
    """An engine that answers at once: what remains is the store's cost."""

    provider = "bench"
    model = "instant"

    def cache_identity(self) -> dict:
        return {"provider": "bench", "model": "instant"}

    def complete(self, task: Task) -> Completion:
        return Completion(value=Slot(text="回答" * 200), requests=1, prompt_tokens=800, completion_tokens=200)


@dataclass
class Overhead:
    """Milliseconds of store time per LLM call."""

    engine: str
    threads: int
    calls: int
    miss_ms: float  # per call that is sent (cache read, call record, reply written)
    hit_ms: float  # per call answered from the cache (cache read, call record)

    def line(self) -> str:
        return (f"{self.engine:<34} {self.threads} thread(s): {self.miss_ms:6.2f} ms per recorded+cached call, "
                f"{self.hit_ms:6.2f} ms per cache hit ({self.calls} calls)")


def _tasks(n: int, tag: str) -> list[Task]:
    ctx = TaskContext(topic="人工智能", summary="摘要" * 500)
    return [
        Task(step=f"s{i}", kind="k", schema=Slot, context=ctx,
             messages=[{"role": "user", "content": f"{tag}问题{i}" + "资料" * 1500}])
        for i in range(n)
    ]


def measure(target: str | Path, calls: int = 400, threads: int = 1, label: str | None = None) -> Overhead:
    """Store time per LLM call on `target` (a SQLite path or a postgresql:// URL), with `threads`
    threads sharing one store (one run's workers). Each call of the miss pass is a new prompt."""
    store = RunStore(target)
    run_id = store.start_run("bench", "research", {})
    tag = f"{time.time_ns()}-"  # prompts never seen by this store: the first pass misses
    per = max(1, calls // threads)
    batches = [_tasks(per, f"{tag}{k}-") for k in range(threads)]
    RecordingLLM(Instant(), store, run_id).complete(_tasks(1, "warm")[0])  # open the connection, migrate

    def pass_seconds() -> float:
        barrier = threading.Barrier(threads + 1)

        def work(batch: list[Task]) -> None:
            llm = RecordingLLM(Instant(), store, run_id)
            llm.complete(_tasks(1, "thread-warm")[0])  # this thread's own connection
            barrier.wait()
            for t in batch:
                llm.complete(t)

        pool = [threading.Thread(target=work, args=(b,)) for b in batches]
        for th in pool:
            th.start()
        barrier.wait()
        started = time.perf_counter()
        for th in pool:
            th.join()
        return time.perf_counter() - started

    miss = pass_seconds()
    hit = pass_seconds()
    store.finish_run(run_id, "done")
    store.close()
    n = per * threads
    name = label or ("SQLite (WAL, synchronous=NORMAL)" if not str(target).startswith("postgres") else "PostgreSQL")
    return Overhead(name, threads, n, miss / n * 1000, hit / n * 1000)


def median_of(runs: list[Overhead]) -> Overhead:
    """The median run by miss time (this machine is shared: single runs are noisy), with the spread."""
    ranked = sorted(runs, key=lambda o: o.miss_ms)
    return ranked[len(ranked) // 2]


def report(label: str, make_target, calls: int, repeats: int) -> list[str]:
    """One line per thread count: median of `repeats` fresh stores, and the range of the miss times."""
    lines = []
    for threads in (1, 4):
        runs = [measure(make_target(threads, k), calls, threads, label) for k in range(repeats)]
        best, worst = min(r.miss_ms for r in runs), max(r.miss_ms for r in runs)
        lines.append(f"{median_of(runs).line()} [miss {best:.2f}-{worst:.2f} over {repeats}]")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="an existing PostgreSQL (postgresql://…) instead of a private one")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"store overhead per LLM call, median of {args.repeats} (load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite (WAL, synchronous=NORMAL)", lambda t, k: Path(tmp) / f"y{t}-{k}.db", args.calls, args.repeats)

    if args.store:
        report("PostgreSQL (given)", lambda t, k: args.store, args.calls, args.repeats)
        return

    import psycopg
    import services

    with services.Postgres(durable=True) as pg:  # as installed: fsync on, synchronous_commit on

        def database(mode: str):
            def make(threads: int, k: int) -> str:
                name = f"{mode}_{threads}_{k}"
                url = pg.create_database(name)
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = {mode}")
                return url

            return make

        report("PostgreSQL 127.0.0.1 (sync commit)", database("on"), args.calls, args.repeats)
        report("PostgreSQL 127.0.0.1 (async commit)", database("off"), args.calls, args.repeats)
    print("(loopback: a database on another machine adds one network round trip to each of the 2-3 statements)")


if __name__ == "__main__":
    main()
