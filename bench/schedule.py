"""Benchmark: 20 due scheduled jobs against the fake Ollama (100 ms per reply), concurrency 4.

Prints its figures; it is not a test. Run: .venv/bin/python bench/schedule.py [--jobs 20] [--delay 0.1]
Targets: the concurrent pass takes <= 0.35x the sum of the single-job times; the scheduler's own overhead
(time outside run_report: loading jobs.toml, due checks, locks, job_runs rows) is < 50 ms per job.

The fake Ollama runs as its own process (`tests/fake_ollama.py --port 0 --delay 0.1`), so its threads do
not share the scheduler's GIL. Each job is small: breadth 1, max_loops 1, `--llm ollama`, local search
over sources/. Both passes start from a fresh output folder whose search index is already built, and
jieba is loaded before timing, so they compare like with like.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.run.schedule import due_jobs, load_jobs, run_jobs, warm_up  # noqa: E402

TOPICS = [
    "人工智能发展趋势", "数据中心电力", "云厂商资本开支", "推理需求", "国产加速器", "高带宽存储", "先进封装",
    "出口管制", "开源大模型", "智能体应用", "液冷技术", "算力租赁价格", "端侧模型", "多模态生成", "行业大模型",
    "数据要素市场", "芯片供应链", "模型调用价格", "企业AI采用", "AI投资泡沫",
]


def start_fake(delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_ollama.py"), "--port", "0", "--delay", str(delay)],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"fake Ollama did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def write_jobs(folder: Path, url: str, n: int) -> Path:
    parts = [
        "[defaults]",
        'kind = "research"',
        'llm = "ollama"',
        f'ollama_host = "{url}"',
        'model = "qwen2.5:7b"',
        'search = "local"',
        f'sources = "{ROOT / "sources"}"',
        "breadth = 1",
        "max_loops = 1",
        'cron = "*/10 * * * *"',
        'out = "out"',
        "",
    ]
    for i in range(n):
        parts += ["[[job]]", f'name = "job-{i + 1:02d}"', f'topics = ["{TOPICS[i % len(TOPICS)]}"]', ""]
    path = folder / "jobs.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def build_index(out: Path) -> None:
    from pipeline.search.local import LocalSearch

    LocalSearch(ROOT / "sources", out / "index.db").close()


def one_pass(folder: Path, url: str, n: int, concurrency: int) -> dict:
    folder.mkdir(parents=True)
    jobs_file = write_jobs(folder, url, n)
    build_index(folder / "out")
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    jobs = load_jobs(jobs_file, env={})
    due = due_jobs(jobs, now)
    t_select = time.perf_counter() - t0
    t1 = time.perf_counter()
    results = run_jobs(due, now, concurrency=concurrency)
    t_run = time.perf_counter() - t1
    failed = [r for r in results if r.status != "done"]
    if failed:
        raise SystemExit(f"{len(failed)} job(s) did not finish: {failed[0].job}: {failed[0].error or failed[0].note}")
    return {
        "jobs": len(due),
        "wall": time.perf_counter() - t0,
        "select": t_select,
        "run": t_run,
        "single": [r.run_seconds for r in results],
        "outside": [r.seconds - r.run_seconds for r in results],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--delay", type=float, default=0.1, help="fake Ollama seconds per reply")
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    proc, url = start_fake(args.delay)
    try:
        warm_up()
        with tempfile.TemporaryDirectory() as tmp:
            serial = one_pass(Path(tmp) / "serial", url, args.jobs, 1)
            conc = one_pass(Path(tmp) / "concurrent", url, args.jobs, args.concurrency)
    finally:
        proc.kill()
        proc.wait()

    sum_single = sum(serial["single"])
    ratio = conc["wall"] / sum_single
    n = conc["jobs"]
    per_job_outside = [x + conc["select"] / n for x in conc["outside"]]
    over_ms = statistics.mean(per_job_outside) * 1000
    over_max = max(per_job_outside) * 1000
    print(f"schedule bench: {n} due jobs, fake Ollama {args.delay * 1000:.0f} ms per reply, "
          f"breadth 1, max_loops 1, local search over sources/")
    print(f"  single-job run_report times: sum {sum_single:.2f} s, mean {statistics.mean(serial['single']):.2f} s, "
          f"min {min(serial['single']):.2f} s, max {max(serial['single']):.2f} s (serial pass wall {serial['wall']:.2f} s)")
    print(f"  concurrency {args.concurrency}: wall {conc['wall']:.2f} s = {ratio:.2f}x the sum of single-job times "
          f"(target <= 0.35x) {'OK' if ratio <= 0.35 else 'MISSED'}")
    print(f"  scheduler overhead per job (outside run_report, incl. its share of loading jobs.toml "
          f"and due checks {conc['select'] * 1000:.0f} ms): mean {over_ms:.1f} ms, max {over_max:.1f} ms "
          f"(target < 50 ms) {'OK' if over_ms < 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
