"""Benchmark: reports on Celery workers against a pool of fake Ollama servers.

Prints its figures; it is not a test. Run: .venv/bin/python bench/scale_out.py [--store postgresql|sqlite]
Needs yanbao[scale], redis-server, and PostgreSQL for `--store postgresql` (the default) and for the
store-overhead figures (bench/store_overhead.py's `measure`).

1. **Wall time**: 24 research reports (breadth 2, 2 loops, concurrency 2 inside a report) queued at once,
   written by 1, 2 and 4 `yanbao worker` processes (one report at a time each: `--concurrency 1`),
   against 4 fake Ollama servers (`tests/fake_ollama.py --delay 0.3`, each its own process) given as one
   `ollama_host` pool. Timed from the first task published to the last run finished; workers are started
   (and ready) before. Target: 4 workers >= 3.2x one worker. Every report has the same topic, its own file
   and `cache = false`, so all 24 cost the same: 23 requests each, none answered from the cache. The
   PostgreSQL store runs with `synchronous_commit = off` (README, Shared store: a choice a newsroom may
   make) unless `--durable`: on this shared machine a flushed commit costs 8 ms quiet and far more when
   other work loads the disk, which would measure the disk rather than the workers.
2. **Store overhead** per recorded LLM call, SQLite vs PostgreSQL (durable, on 127.0.0.1).
3. **Death to resume**: a worker is SIGKILLed in the middle of a report; the time until another worker
   has taken the report over (its run is `running` under the other worker's pid), with the default
   `worker_sweep_s` (5 s), and until the report is finished.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import services  # noqa: E402

from pipeline.config import Settings  # noqa: E402
from pipeline.run.queue import open_store, record_queued  # noqa: E402
from pipeline.run.worker import Broker  # noqa: E402

TOPIC = "人工智能发展趋势"
REPORTS = 24
DELAY = 0.3


def start_fakes(n: int, delay: float) -> tuple[list[subprocess.Popen], list[str]]:
    procs, urls = [], []
    for _ in range(n):
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_ollama.py"), "--port", "0",
                                 "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise SystemExit(f"fake Ollama did not start: {line!r}")
        procs.append(proc)
        urls.append(line.split(" ", 1)[1])
    return procs, urls


class Fleet:
    """`yanbao worker` processes on one broker and store."""

    def __init__(self, broker: str, store: str, out: Path, logs: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("YANBAO_", "OLLAMA_"))}
        self.env.update({"YANBAO_BROKER": broker, "PYTHONPATH": str(ROOT)})
        if store:
            self.env["YANBAO_STORE"] = store
        self.out = out
        self.logs = logs
        self.procs: list[subprocess.Popen] = []

    def start(self, n: int, concurrency: int = 1) -> None:
        started = []
        for _ in range(n):
            log = self.logs / f"worker-{len(self.procs) + 1}.log"
            with open(log, "wb") as fh:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "pipeline.cli.app", "worker", "--out", str(self.out),
                     "--concurrency", str(concurrency)],
                    env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                )
            self.procs.append(proc)
            started.append((proc, log))
        for proc, log in started:
            deadline = time.monotonic() + 120
            while " ready." not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"worker did not start: {log.read_text(errors='replace')[-1500:]}")
                time.sleep(0.05)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_settings(out: Path, hosts: list[str], broker: str, store: str) -> Settings:
    return Settings(
        llm="ollama", model="qwen2.5:7b", ollama_host=",".join(hosts), search="local", sources=ROOT / "sources",
        out=out, breadth=2, max_loops=2, concurrency=2, cache=False, quiet=True, broker=broker, store=store,
    )


def build_index(out: Path) -> None:
    from pipeline.search.local import LocalSearch

    LocalSearch(ROOT / "sources", out / "index.db").close()


def queue_reports(settings: Settings, broker: Broker, n: int, tag: str) -> list[str]:
    store = open_store(settings.out, settings.store)
    day = time.strftime("%Y-%m-%d")
    ids = [record_queued(store, settings, TOPIC, day, stem=f"{tag}-{i + 1:02d}") for i in range(n)]
    for run_id in ids:
        broker.publish(run_id, settings.out, settings.broker_queue)
    return ids


def wait_all(settings: Settings, ids: list[str], timeout: float = 1800) -> dict[str, int]:
    store = open_store(settings.out, settings.store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [store.get_run(i) for i in ids]
        if all(r and r["status"] in ("done", "failed") for r in rows):
            statuses: dict[str, int] = {}
            for r in rows:
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            return statuses
        time.sleep(0.1)
    raise SystemExit(f"runs did not finish in {timeout:.0f} s")


def llm_requests(settings: Settings, ids: list[str]) -> int:
    store = open_store(settings.out, settings.store)
    return sum(sum(c["requests"] for c in store.calls(i, "llm")) for i in ids)


def fresh_store(kind: str, pg: services.Postgres | None, name: str, durable: bool = False) -> str:
    if kind != "postgresql" or pg is None:
        return ""
    url = pg.create_database(name)
    if not durable:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    return url


def wall_times(args, tmp: Path, redis: services.Redis, pg, hosts: list[str]) -> dict[int, float]:
    store_name = args.store + ("" if args.store == "sqlite" else " (durable)" if args.durable else
                               " (synchronous_commit = off)")
    print(f"1. wall time: {REPORTS} research reports (breadth 2, 2 loops), {len(hosts)} fake Ollama servers of "
          f"{DELAY * 1000:.0f} ms per request, {store_name} store, worker concurrency {args.worker_concurrency}",
          flush=True)
    walls: dict[int, float] = {}
    for n in args.workers:
        redis.flush()
        out = tmp / f"wall-{n}"
        build_index(out)
        store = fresh_store(args.store, pg, f"wall_{n}", args.durable)
        settings = run_settings(out, hosts, redis.url, store)
        fleet = Fleet(redis.url, store, out, tmp)
        fleet.start(n, args.worker_concurrency)
        try:
            broker = Broker(settings)
            cpu0 = sum(cpu_seconds(p.pid) for p in fleet.procs)
            load0 = os.getloadavg()[0]
            started = time.perf_counter()
            ids = queue_reports(settings, broker, REPORTS, f"w{n}")
            statuses = wait_all(settings, ids)
            walls[n] = time.perf_counter() - started
            cpu = sum(cpu_seconds(p.pid) for p in fleet.procs) - cpu0
        finally:
            fleet.stop()
        requests = llm_requests(settings, ids)
        runs = open_store(out, store).list_runs(limit=10 * REPORTS)
        if len(runs) != REPORTS:
            raise SystemExit(f"{len(runs)} runs in the store, {REPORTS} queued")
        print(f"   {n} worker process(es): {walls[n]:6.1f} s wall, {walls[n] / REPORTS:5.2f} s per report, "
              f"{requests} LLM requests ({requests / REPORTS:.1f} per report), runs {statuses}; workers' CPU "
              f"{cpu / REPORTS:.2f} s per report ({cpu / walls[n]:.2f} cores); load average {load0:.1f} before",
              flush=True)
    if 1 in walls:
        for n in walls:
            if n > 1:
                speedup = walls[1] / walls[n]
                target = " (target >= 3.2x) " + ("OK" if speedup >= 3.2 else "MISSED") if n == 4 else ""
                print(f"   speed-up {n} workers vs 1: {speedup:.2f}x{target}", flush=True)
    return walls


def store_overhead(pg) -> None:
    from store_overhead import measure

    print("2. run-store overhead per recorded LLM call (bench/store_overhead.py measure(), 400 calls, "
          "median of 3)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (1, 4):
            rows = sorted((measure(Path(tmp) / f"s{threads}-{k}.db", 400, threads) for k in range(3)),
                          key=lambda o: o.miss_ms)
            print(f"   {rows[1].line()}", flush=True)
    if pg is None:
        print("   PostgreSQL: not measured (not installed)")
        return
    for threads in (1, 4):
        rows = sorted((measure(pg.create_database(f"over_{threads}_{k}"), 400, threads, "PostgreSQL (durable)")
                       for k in range(3)), key=lambda o: o.miss_ms)
        print(f"   {rows[1].line()}", flush=True)


def death_to_resume(args, tmp: Path, redis: services.Redis, pg, hosts: list[str]) -> None:
    print(f"3. death to resume: 2 workers, SIGKILL of the one writing a report after ~6 of its requests, "
          f"worker_sweep_s {Settings().worker_sweep_s:g} s (default), {args.kills} kills", flush=True)
    redis.flush()
    out = tmp / "kill"
    build_index(out)
    store_url = fresh_store(args.store, pg, "kill", args.durable)
    settings = run_settings(out, hosts, redis.url, store_url)
    store = open_store(out, store_url)
    fleet = Fleet(redis.url, store_url, out, tmp)
    fleet.start(2)
    takeovers, finishes = [], []
    try:
        broker = Broker(settings)
        for k in range(args.kills):
            (run_id,) = queue_reports(settings, broker, 1, f"kill{k}")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                row = store.get_run(run_id)
                if row["status"] == "running" and len(store.calls(run_id, "llm")) >= 6:
                    break
                time.sleep(0.02)
            holder = store.get_run(run_id)["pid"]
            victim = next(p for p in fleet.procs if p.pid == holder)
            victim.send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            victim.wait()
            while True:
                row = store.get_run(run_id)
                if row["status"] == "running" and row["pid"] not in (None, holder):
                    takeovers.append(time.perf_counter() - killed)
                    break
                if time.perf_counter() - killed > 300:
                    raise SystemExit("the killed worker's report was not taken over in 300 s")
                time.sleep(0.02)
            wait_all(settings, [run_id])
            finishes.append(time.perf_counter() - killed)
            row = store.get_run(run_id)
            print(f"   kill {k + 1}: taken over after {takeovers[-1]:.2f} s, finished {finishes[-1]:.1f} s after the "
                  f"kill ({row['status']})", flush=True)
            fleet.procs.remove(victim)
            fleet.start(1)  # back to two workers
    finally:
        fleet.stop()
    print(f"   death to takeover: median {statistics.median(takeovers):.2f} s, range "
          f"{min(takeovers):.2f}-{max(takeovers):.2f} s (bounded by worker_sweep_s + one task delivery)")


def main() -> None:
    global REPORTS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--worker-concurrency", type=int, default=1)
    ap.add_argument("--durable", action="store_true", help="PostgreSQL as installed (every commit flushed)")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--reports", type=int, default=24, help="reports per wall-time pass")
    ap.add_argument("--skip", nargs="*", default=[], choices=["wall", "overhead", "kill"])
    args = ap.parse_args()
    REPORTS = args.reports

    print(f"scale-out bench ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} at start)", flush=True)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        redis = stack.enter_context(services.Redis())
        try:
            pg = stack.enter_context(services.Postgres(durable=True))
        except services.ServiceMissing:
            if args.store == "postgresql":
                raise
            pg = None
        fakes, hosts = start_fakes(4, DELAY)
        try:
            if "wall" not in args.skip:
                wall_times(args, tmp, redis, pg, hosts)
            if "overhead" not in args.skip:
                store_overhead(pg)
            if "kill" not in args.skip:
                death_to_resume(args, tmp, redis, pg, hosts)
        finally:
            for f in fakes:
                f.kill()
                f.wait()
    print(f"(load average {os.getloadavg()[0]:.2f} at the end; the machine is shared with other work)")


if __name__ == "__main__":
    main()
