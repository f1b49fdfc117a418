"""The embedded default's cost: a full `yanbao run` with the extractive engine over `sources/`, then the
engine alone on a synthetic corpus.

    .venv/bin/python bench/extractive.py [--docs 30] [--chars 1500] [--breadth 3] [--loops 3] [--per-query 5]

Targets (issue 4): the report for breadth 3 x 3 loops in < 5 s after set-up, peak memory < 300 MB.
"After set-up" means the virtual environment exists; the full run is a fresh `yanbao` process with a
fresh output folder, so it pays for Python's start, jieba's dictionary, the local index and the facts
store, and its peak RSS is the whole process's.

The corpus is generated (fixed seed) from Chinese sentence templates, so the bench needs no files and no
network. The stage contract is driven by `tests/extractive/extractive_driver.py` (plan -> query, summarize x
loops, reflect -> analyses -> syntheses). jieba's dictionary and tag table are loaded before timing: the
requirement is about the engine's own work. "engine" is the sum of `Completion.seconds` over all calls;
"wall" adds the driver's toy search.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "extractive"))

from extractive_driver import drive  # noqa: E402

from pipeline.llm.extractive import ExtractiveLLM  # noqa: E402
from pipeline.models import Doc, source_id  # noqa: E402
from pipeline.text import tokens, word_tag  # noqa: E402

SUBJECTS = ["云厂商", "芯片企业", "AI创业公司", "数据中心运营商", "监管部门", "大型企业", "投资机构", "电网企业",
            "开源社区", "服务器厂商", "电信运营商", "地方政府"]
OBJECTS = ["人工智能算力", "AI服务器", "大模型训练", "推理服务", "高端GPU", "液冷数据中心", "AI芯片出口", "算力租赁",
           "智能体应用", "生成式AI订阅", "HBM内存", "先进封装产能", "AI监管规则", "企业AI部署"]
TEMPLATES = [
    "{s}的{o}投入今年同比增长了{n}%。",
    "报告显示，{o}的市场规模预计将在{y}年达到{m}亿元。",
    "{s}表示，{o}的供给仍然紧张，交付周期延长到{k}个月。",
    "分析认为，{o}正在从试点走向规模化，{s}是主要受益者。",
    "若{o}需求不及预期，{s}可能面临产能闲置的风险。",
    "长期来看，{o}的成本有望每年下降约{n}%。",
    "{s}建议加强对{o}的合规管理，避免数据安全风险。",
    "投资者关注{s}在{o}上的资本开支与营收增速之间的差距。",
    "受出口管制影响，{s}采购{o}的难度明显上升。",
    "{s}的{o}业务占总收入的比例已经达到{n}%。",
]


def synthetic_corpus(n_docs: int, chars: int, seed: int = 7) -> list[Doc]:
    rng = random.Random(seed)
    out = []
    for i in range(n_docs):
        focus = OBJECTS[i % len(OBJECTS)]
        parts: list[str] = []
        while sum(len(p) for p in parts) < chars:
            o = focus if rng.random() < 0.5 else rng.choice(OBJECTS)
            parts.append(rng.choice(TEMPLATES).format(
                s=rng.choice(SUBJECTS), o=o, n=rng.randint(5, 90), m=rng.randint(100, 5000),
                y=rng.choice([2025, 2026, 2027, 2028, 2030]), k=rng.randint(2, 12)))
        url = f"https://bench.example/{i}"
        out.append(Doc(ref=0, source_id=source_id(url), title=f"{focus}观察 {i}", url=url, text="".join(parts)))
    return out


def full_pipeline(breadth: int, loops: int) -> None:
    """A real `yanbao run` in a fresh process and output folder, timed from outside; peak RSS via wait4."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        cmd = [str(ROOT / ".venv" / "bin" / "yanbao"), "run", "人工智能发展趋势", "--llm", "extractive", "--search",
               "local", "--sources", str(ROOT / "sources"), "--out", out, "--breadth", str(breadth),
               "--max-loops", str(loops), "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout = proc.stdout.read().decode()
        if proc.returncode != 0:
            print(f"full pipeline FAILED (exit {proc.returncode}): {proc.stderr.read().decode().strip()}")
            return
        import json

        report = Path(stdout.strip().splitlines()[-1])
        manifest = json.loads(report.with_name(report.name[:-3] + ".run.json").read_text(encoding="utf-8"))
    peak = usage.ru_maxrss / 1024
    print(f"full pipeline: yanbao run --llm extractive --search local, breadth {breadth} x {loops} loops, fresh "
          f"process and output folder: {wall:.2f} s (target < 5 s) {'OK' if wall < 5 else 'MISSED'}; "
          f"peak RSS {peak:.0f} MB (target < 300 MB) {'OK' if peak < 300 else 'MISSED'}")
    print(f"  engine tasks {manifest['llm']['tasks']}, sources {sum(len(w['sources']) for w in manifest['workers'])}, "
          f"checks {manifest['checks']}, degraded slots {len(manifest['degraded'])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=30)
    ap.add_argument("--chars", type=int, default=1500)
    ap.add_argument("--breadth", type=int, default=3)
    ap.add_argument("--loops", type=int, default=3)
    ap.add_argument("--per-query", type=int, default=5)
    ap.add_argument("--topic", default="人工智能发展趋势")
    args = ap.parse_args(argv)

    full_pipeline(args.breadth, args.loops)
    print("engine alone, synthetic corpus:")
    corpus = synthetic_corpus(args.docs, args.chars)
    t0 = time.perf_counter()
    tokens("预热")
    word_tag("预热")
    load = time.perf_counter() - t0
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    run = drive(ExtractiveLLM(), args.topic, corpus, breadth=args.breadth, loops=args.loops, per_query=args.per_query)
    wall = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine = sum(c.completion.seconds for c in run.calls)
    slowest = max(run.calls, key=lambda c: c.completion.seconds)
    degraded = [(c.step, c.completion.degraded) for c in run.calls if c.completion.value is None]
    print(f"corpus: {args.docs} docs x ~{args.chars} chars; breadth {args.breadth} x {args.loops} loops; "
          f"{len(run.calls)} calls; sources used {len(run.global_docs)}")
    print(f"jieba + tag table load (not counted): {load:.2f} s")
    print(f"engine: {engine:.3f} s   wall (with the driver's search): {wall:.3f} s   "
          f"slowest call: {slowest.step} {slowest.completion.seconds:.3f} s")
    print(f"peak RSS growth during the run: {(rss1 - rss0) / 1024:.1f} MB (peak RSS {rss1 / 1024:.0f} MB)")
    print(f"degraded slots: {len(degraded)}")
    for step, why in degraded:
        print(f"  {step}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
