"""Benchmark of the facts room: extraction, checking against a large store, import.

    .venv/bin/python bench/facts_check.py [--facts 100000] [--seed 7]

Prints its figures; it is not a test. All data is synthetic (generated in a temp dir): sentences in
the style of Chinese industry reports, with company names, metrics, years and numbers in every form
the extractor handles. Targets (issue 3):

* extraction throughput on >= 1 MB of Chinese text: >= 2 MB/s
* checking a 20 000-character report against a store of >= 100 000 facts: < 0.2 s warm (issue 10),
  nearly flat from 10 000 to 100 000 facts
* the same check in a fresh process (`yanbao check REPORT --facts DB --json`, whole command): < 0.5 s
* import throughput (files -> store, extraction + referents + SQLite): >= 2 MB/s (issue 10)

The restated/changed/unrelated scores below are on the generator's own phrasing and say little about
real writing; bench/facts_quality.py measures that on a hand-labelled set.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.facts.check import check_text  # noqa: E402
from pipeline.facts.extract import extract_claims  # noqa: E402
from pipeline.facts.store import FactStore  # noqa: E402

CHARS = "华星云智天海锐芯博恒联达信创微光鼎盛宏远新安正和泰通晶科睿思极维图灵瀚视宇航明德昊辰"
METRICS = [
    ("营收", "money"), ("净利润", "money"), ("资本开支", "money"), ("研发投入", "money"), ("订单额", "money"),
    ("估值", "money"), ("融资额", "money"), ("数据中心收入", "money"), ("云业务收入", "money"),
    ("毛利率", "pct"), ("市场份额", "pct"), ("渗透率", "pct"), ("良品率", "pct"),
    ("出货量", "count"), ("装机量", "count"), ("用户数", "count"), ("员工人数", "people"),
    ("训练速度", "times"), ("能效比", "times"), ("交付周期", "days"),
]
SUBJECTS = ["行业分析人士", "多家机构", "市场观察者", "管理层", "业内专家", "投资者", "供应链人士", "监管部门",
            "研究团队", "下游客户", "头部厂商", "初创企业", "开发者社区", "地方政府", "咨询公司", "渠道商"]
VERBS = ["认为", "指出", "强调", "判断", "注意到", "担心", "预期", "提醒"]
CLAUSES = ["这一趋势将持续影响上下游格局", "供给侧的约束仍未完全解除", "长期投入的必要性正在上升",
           "海外扩张面临新的不确定性", "开源生态正在降低行业门槛", "算力的分配方式正在发生变化",
           "价格竞争可能进一步加剧", "技术路线的分化还会持续一段时间", "客户更看重整体拥有成本",
           "软件生态的锁定效应不容忽视", "推理需求的增长快于训练需求", "数据合规成为采购的重要考量",
           "中小企业更倾向于混合部署", "人才争夺推高了研发成本", "产能爬坡的节奏决定了交付周期"]
TAILS = ["。", "，这一点在近期的访谈中反复出现。", "，但具体影响仍有待观察。", "，并将在未来的财报中体现。"]


def filler(rng: random.Random) -> str:
    """A sentence of report prose without figures, varied so that no cache makes it free."""
    return rng.choice(SUBJECTS) + rng.choice(VERBS) + "，" + rng.choice(CLAUSES) + rng.choice(TAILS)


def entity_names(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        if rng.random() < 0.8:
            names.add(rng.choice(CHARS) + rng.choice(CHARS) + rng.choice(["科技", "智能", "电子", "半导体", "数据"]))
        else:
            names.add(rng.choice(["Nova", "Astra", "Quanta", "Vertex", "Helio", "Lumen"]) + str(rng.randint(10, 999)))
    return sorted(names)


def quantity(rng: random.Random, kind: str) -> str:
    """One written quantity of the given kind, in a random written form."""
    if kind == "money":
        v = rng.randint(100, 99999) / rng.choice([1, 10, 100])
        form = rng.random()
        if form < 0.4:
            return f"{v:g}亿美元"
        if form < 0.7:
            return f"{v:g}亿元"
        if form < 0.85:
            return f"{v:g}万元人民币"
        return f"${v:g}B"
    if kind == "pct":
        return f"{rng.randint(10, 999) / 10:g}%"
    if kind == "count":
        return f"{rng.randint(10, 9999)}万{rng.choice(['台', '张', '片'])}"
    if kind == "people":
        return f"{rng.randint(100, 99999)}名"
    if kind == "times":
        return f"{rng.randint(11, 99) / 10:g}倍"
    return f"{rng.randint(2, 400)}天"


def sentence(rng: random.Random, entity: str, year: int) -> tuple[str, str]:
    """(sentence, the metric's quantity as written) — the quantity is what a report may restate."""
    metric, kind = rng.choice(METRICS)
    q = quantity(rng, kind)
    form = rng.randrange(4)
    if form == 0:
        s = f"{entity}{year}年{metric}为{q}，同比增长{rng.randint(1, 300)}%。"
    elif form == 1:
        s = f"据公开资料，{entity}的{metric}达到{q}。"
    elif form == 2:
        s = f"{entity}表示，{year}年{metric}约{q}，较上年提升{rng.randint(1, 9)}个百分点。"
    else:
        s = f"{entity}在{year}年披露的{metric}为{q}。"
    return s, q


def make_documents(rng: random.Random, n_facts: int, entities: list[str], prose: float = 0.75) -> list[str]:
    """Documents of ~40 sentences until about `n_facts` numbers have been written.

    `prose` is the share of sentences without figures. 0.75 puts 24 % of the text in sentences with
    figures (one figure per ~220 bytes), as in the human-written source articles of ../shared/seeds
    (22-26 %, one figure per 310-600 bytes); 0.3 is as dense as the digest report example.
    """
    docs, facts = [], 0
    while facts < n_facts:
        parts = []
        for _ in range(40):
            if rng.random() < prose:
                parts.append(filler(rng))
                continue
            s, _ = sentence(rng, rng.choice(entities), rng.randint(2019, 2026))
            parts.append(s)
            facts += 1 + (("同比增长" in s) or ("个百分点" in s))
        docs.append("".join(parts) + "\n")
    return docs


def make_report(rng: random.Random, docs: list[str], chars: int = 20_000) -> tuple[str, list[tuple[int, int, str, int]]]:
    """A report of restated facts (some with one digit changed) and unrelated figures.

    Returns the text and, per sentence, (start, end, kind, changed offset or -1), kind being
    "restated", "changed" or "unrelated", so that the benchmark can score the statuses.
    """
    stored = [s + "。" for d in docs for s in d.split("。") if s and any(ch.isdigit() for ch in s)]
    out: list[str] = []
    labels: list[tuple[int, int, str, int]] = []
    size = 0
    while size < chars:
        r = rng.random()
        changed = -1
        if r < 0.45:
            s, kind = rng.choice(stored), "restated"
        elif r < 0.6:  # change one digit of a restated figure (not of a year)
            s, kind = rng.choice(stored), "changed"
            digits = [i for i, ch in enumerate(s) if ch.isdigit() and not re.match(r"[0-9]*年", s[i:])]
            if digits:
                changed = rng.choice(digits)
                s = s[:changed] + str((int(s[changed]) + rng.randint(1, 8)) % 10) + s[changed + 1 :]
        elif r < 0.9:
            s, _ = sentence(rng, "某新兴公司", rng.randint(2019, 2026))
            kind = "unrelated"
        else:
            s, kind = filler(rng), "prose"
        labels.append((size, size + len(s), kind, size + changed if changed >= 0 else -1))
        out.append(s)
        size += len(s)
    return "".join(out), labels


def score(report, labels: list[tuple[int, int, str, int]]) -> str:
    """How the statuses match what the generator did to each figure."""
    counts: dict[str, dict[str, int]] = {}
    for c in report.claims:
        for a, b, kind, changed in labels:
            if a <= c.start < b:
                if kind == "changed" and not c.start <= changed < c.end:
                    kind = "restated"  # another figure of a sentence whose digit change is elsewhere
                counts.setdefault(kind, {}).setdefault(c.status, 0)
                counts[kind][c.status] += 1
                break
    lines = []
    for kind, what in (("restated", "verified"), ("changed", "contradicted"), ("unrelated", "unsupported")):
        row = counts.get(kind, {})
        total = sum(row.values()) or 1
        lines.append(
            f"    {kind:<9} figures: {sum(row.values()):>4}, {what} {100 * row.get(what, 0) / total:5.1f} %  "
            + "  ".join(f"{k} {v}" for k, v in sorted(row.items()))
        )
    return "\n".join(lines)


def mb(text: str) -> float:
    return len(text.encode("utf-8")) / 1e6


def bench_extraction(rng: random.Random, entities: list[str]) -> None:
    text = "".join(make_documents(rng, 16_000, entities, prose=0.3))
    extract_claims(text[:10_000])  # compile/warm
    best, cpu = float("inf"), float("inf")
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        claims = extract_claims(text)
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    print(f"extraction: {mb(text):.2f} MB, {len(text):,} chars, {len(claims):,} claims "
          f"(one per {len(text.encode()) / len(claims):.0f} bytes, as dense as a report) in {best:.3f} s wall "
          f"({cpu:.3f} s CPU) -> {mb(text) / best:.2f} MB/s wall, {mb(text) / cpu:.2f} MB/s CPU (target >= 2 MB/s)")


def build_store(path: Path, docs: list[str], folder: Path) -> tuple[int, float, float, float]:
    """Write the documents as files and import the folder: (facts, MB, wall s, CPU s)."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for i, d in enumerate(docs):
        (folder / f"doc{i:05d}.md").write_text(d, encoding="utf-8")
        total += mb(d)
    with FactStore(path) as store:
        t, c = time.perf_counter(), time.process_time()
        store.import_path(folder)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        return store.count()[1], total, wall, cpu


def print_import(n_files: int, n_facts: int, size: float, wall: float, cpu: float) -> None:
    print(f"import: {n_files} files, {size:.2f} MB, {n_facts:,} facts in {wall:.2f} s wall ({cpu:.2f} s CPU) "
          f"-> {size / wall:.2f} MB/s wall, {size / cpu:.2f} MB/s CPU (target >= 2 MB/s)")


def time_check(report: str, db: Path, runs: int = 3) -> tuple[float, float, float, object]:
    """(first run on a freshly opened store, its CPU time, best of `runs`, report): the first run pays
    for the store's caches (term counts, facts read), the later ones show the steady state."""
    times, result = [], None
    with FactStore(db) as store:
        for _ in range(runs):
            t, c = time.perf_counter(), time.process_time()
            result = check_text(report, store)
            times.append((time.perf_counter() - t, time.process_time() - c))
    return times[0][0], times[0][1], min(w for w, _ in times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facts", type=int, default=100_000, help="size of the large store (default 100000)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    entities = entity_names(rng, 3000)

    bench_extraction(rng, entities)

    small_docs = make_documents(rng, 10_000, entities)
    more_docs = make_documents(rng, args.facts - 10_000, entities)
    report, labels = make_report(random.Random(args.seed + 1), small_docs)
    results = []
    with tempfile.TemporaryDirectory(prefix="yanbao-bench-") as tmp:
        tmp_path = Path(tmp)
        check_text(report[:2000], FactStore(":memory:"))  # warm the tokenizer, not the store
        for name, docs in (("small", small_docs), ("large", small_docs + more_docs)):
            n_facts, size, wall, cpu = build_store(tmp_path / f"{name}.db", docs, tmp_path / name)
            print_import(len(docs), n_facts, size, wall, cpu)
            results.append((n_facts, *time_check(report, tmp_path / f"{name}.db")))
        fresh = fresh_process(report, tmp_path)

    print(f"check: report of {len(report):,} chars, {len(results[0][4].claims)} claims "
          "(first run on a freshly opened store: wall / CPU; best of 3 wall)")
    for n_facts, first, first_cpu, best, result in results:
        print(f"  store of {n_facts:>7,} facts: {first:.3f} s / {first_cpu:.3f} s CPU; best {best:.3f} s"
              f"  {result.summary}  (target < 0.2 s warm)")
        print(score(result, labels))
    (n1, f1, c1, b1, _), (n2, f2, c2, b2, _) = results
    print(f"  growth from {n1:,} to {n2:,} facts (x{n2 / n1:.1f}): time x{f2 / f1:.2f} first run wall, "
          f"x{c2 / c1:.2f} CPU, x{b2 / b1:.2f} best")
    print(fresh)


def fresh_process(report: str, tmp: Path, runs: int = 5) -> str:
    """Whole `yanbao check REPORT --facts large.db --json` commands, each a new process."""
    path = tmp / "report.md"
    path.write_text(report, encoding="utf-8")
    exe = Path(sys.executable).with_name("yanbao")
    cmd = [str(exe), "check", str(path), "--facts", str(tmp / "large.db"), "--json"]
    # Any value of PYTHONDONTWRITEBYTECODE, "0" included, stops Python writing .pyc files: then every
    # run compiles the package from source. A user's Python caches them; so does this measurement.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(cmd, capture_output=True, env=env, check=True)  # byte-compile once
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        walls.append(time.perf_counter() - t)
    walls.sort()
    return (f"fresh process: `yanbao check` of the report against the large store, whole command: "
            f"median {walls[len(walls) // 2]:.3f} s, min {walls[0]:.3f} s, max {walls[-1]:.3f} s over {runs} runs "
            f"(target < 0.5 s)")


if __name__ == "__main__":
    main()
