"""Report quality of the extractive engine over `sources/`: does it refuse what the corpus does not cover,
and does what it writes fit its slots?

    .venv/bin/python bench/report_quality.py [--jobs 2] [--topics 英伟达H20对华销售 ...] [--checkout DIR]

`--checkout DIR` runs another checkout's `yanbao` (e.g. `git archive <commit> | tar -x -C DIR`) on the
same lists, measured by the same rules, for a before/after comparison.

For a fixed list of 20 on-topic and 20 off-topic topics of our own (none of them the development list
that chose the coverage threshold, `tests/search/test_coverage.py`), each is run as a fresh
`yanbao run TOPIC --llm extractive --search local` process into its own folder, and the report is read
back. Printed per topic and summed per list:

* exit code (3 = the sources do not cover the topic; the report says so) and the topic's coverage score;
* sentences — the cited source sentences of the report body (everything before `## 数据核验`);
* subject share — of those, the share naming the topic's subject (`pipeline.kinds.coverage.subject_units`);
* repeated facts — pairs of sentences stating the same number (`pipeline.facts.extract.extract_claims`,
  same value and unit) about the same thing: the clauses around the number share two content words (two
  characters or more, not generic: 未来, 预计 and 增长 say nothing of what is counted) and a quarter of
  their words. Counted here on the report's text, apart from the engine's own rule
  (`extractive_rank.same_fact`), which looks at the clause before too;
* dangling openings — sentences that open with a connective, pronoun or ordinal (然而, 这些, 第三，…)
  not preceded, in the same bullet or paragraph, by the sentence they lean on;
* fragments — sentences that are not a whole sentence of their source: the source has no sentence end
  (。！？ or a line break) before them, or they stop at a `；` in mid-line;
* appendix share — the `## 数据核验` appendix's share of the report's characters.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.documents import iter_source_files, read_document  # noqa: E402
from pipeline.facts.extract import extract_claims, unit_class  # noqa: E402
from pipeline.kinds.coverage import GENERIC as FRAMING  # noqa: E402
from pipeline.kinds.coverage import mentions, subject_units  # noqa: E402
from pipeline.llm.extractive_rank import GENERIC, whole_words  # noqa: E402
from pipeline.text import tokens  # noqa: E402

ON_TOPIC = [
    "英伟达数据中心收入", "微软Azure资本开支", "谷歌TPU", "亚马逊Trainium芯片", "Meta算力集群", "DeepSeek推理成本",
    "东数西算", "国产GPU上市", "摩尔线程IPO", "Blackwell供应短缺", "AI基础设施投资泡沫", "斯坦福AI指数",
    "美国数据中心核电", "中国云厂商资本开支", "全球token调用量", "AMD的MI308", "国际能源署AI用电", "定制ASIC推理芯片",
    "2023年GPU抢购潮", "智能算力规模",
]
OFF_TOPIC = [
    "中国汽车市场发展", "全球粮食价格趋势", "美国大选影响", "中国房地产政策", "日本动漫产业", "印度经济增长",
    "中国旅游市场复苏", "奶茶品牌竞争格局", "手机游戏市场", "中国医疗器械出口", "新能源电池技术发展", "全球航运价格",
    "中国农业现代化", "职业教育改革", "体育产业发展趋势", "石油价格走势", "比特币价格", "鸡蛋价格", "中国出生率下降",
    "电动自行车新国标",
]

DANGLING = re.compile(
    r"^(?:这|那|该|此|其|上述|以上|他|她|它|但|而|且|却|因此|因而|所以|于是|由此|为此|对此|不过|然而|同时|与此同时|"
    r"此外|另外|另一方面|相比之下|换言之|总之|综上|首先|其次|再次|最后|第[一二三四五六七八九十]+[，,、：:是]|"
    r"[一二三四五六七八九十]是|随后|此后|同月|同年|当月|当年|次年|届时|不仅如此|相反)"
)
_CITED = re.compile(r"([^\[\]]+?[。！？；])\[(\d{1,3})\]")
_CLAUSE = "，,；;：:。！!？?"


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s)


def corpus_text() -> str:
    """The sources' bodies, one per line block, whitespace removed (as the reports quote them)."""
    return "\n".join(_norm(read_document(p).body.replace("\n", "¶")) for p in iter_source_files(ROOT / "sources"))


def report_sentences(body: str) -> list[tuple[str, str]]:
    """(sentence, what came before it in the same line) for every cited sentence of the body."""
    out = []
    for line in body.splitlines():
        pos = 0
        for m in _CITED.finditer(line):
            sentence = m.group(1).strip()
            sentence = re.sub(r"^(?:[-*]\s*|\d+\.\s*)?(?:基准：|乐观：|审慎：)?\s*", "", sentence)
            sentence = re.sub(r"^.*?[：:]\s*(?=\S)", "", sentence) if line.startswith("**") else sentence
            out.append((sentence, line[pos:m.start()]))
            pos = m.end()
    return out


def split_cited(sentence: str) -> list[str]:
    """A cited unit may hold two source sentences (a dangling one with the one it leans on)."""
    return [p for p in re.split(r"(?<=[。！？])", sentence) if p.strip()]


def is_fragment(sentence: str, corpus: str) -> bool:
    s = _norm(sentence)
    core = s[:-1] if s[-1:] in "。；;" else s
    i = corpus.find(core)
    if i < 0:
        return True  # not a source sentence at all
    before = corpus[i - 1] if i > 0 else "¶"
    after = corpus[i + len(core)] if i + len(core) < len(corpus) else "¶"
    starts = before in "。！？!?¶”」）)" or corpus[max(0, i - 2):i].endswith(("**", "- "))
    ends = after in "。！？!?”」）)" or (after in "；;" and corpus[i + len(core) + 1: i + len(core) + 2] in ("¶", ""))
    return not (starts and ends)


def clause_words(text: str, start: int, end: int) -> set[str]:
    a = max(text.rfind(m, 0, start) for m in _CLAUSE) + 1
    ends = [i for i in (text.find(m, end) for m in _CLAUSE) if i >= 0]
    b = min(ends) if ends else len(text)
    words = whole_words(tokens(text[a:start] + " " + text[end:b]))
    return {t for t in words if len(t) >= 2 and not re.search(r"\d", t) and t not in GENERIC and t not in FRAMING}


def repeated_facts(sentences: list[str]) -> int:
    facts = []  # (sentence index, key, words)
    for i, s in enumerate(sentences):
        for c in extract_claims(s):
            facts.append((i, (unit_class(c.unit) or c.unit, round(c.value, 6)), clause_words(s, c.start, c.end)))
    pairs = 0
    for x in range(len(facts)):
        for y in range(x + 1, len(facts)):
            (i, k1, w1), (j, k2, w2) = facts[x], facts[y]
            if i != j and k1 == k2 and len(w1 & w2) >= 2 and len(w1 & w2) >= 0.25 * len(w1 | w2):
                pairs += 1
    return pairs


def measure(topic: str, corpus: str, out: Path, checkout: Path = ROOT) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YANBAO_", "OLLAMA_"))}
    env["PYTHONPATH"] = str(checkout)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.app", "run", topic, "--llm", "extractive", "--search", "local",
         "--sources", str(ROOT / "sources"), "--out", str(out), "--quiet"],
        env=env, capture_output=True, text=True, timeout=600, cwd=checkout,
    )
    seconds = time.perf_counter() - started
    row = {"topic": topic, "exit": proc.returncode, "seconds": round(seconds, 1)}
    lines = proc.stdout.strip().splitlines()
    if not lines:
        row["error"] = proc.stderr.strip()[-200:]
        return row
    report = Path(lines[-1])
    text = report.read_text(encoding="utf-8")
    manifest = json.loads(report.with_name(report.name[:-3] + ".run.json").read_text(encoding="utf-8"))
    body, _, appendix = text.partition("\n## 数据核验")
    cited = report_sentences(body)
    subject = subject_units(topic)
    sentences = [s for s, _ in cited]
    singles = [p for s in sentences for p in split_cited(s)]
    dangling = 0
    for s, before in cited:
        first = split_cited(s)[0]
        if not DANGLING.match(first):
            continue
        prev = split_cited(re.sub(r"\[\d{1,3}\]", "", before).strip())
        if not prev or _norm(prev[-1]) + _norm(first) not in corpus:  # its predecessor is not right before it
            dangling += 1
    row.update({
        "coverage": (manifest.get("coverage") or {}).get("topic", {}).get("score"),
        "chars": len(text),
        "sentences": len(sentences),
        "subject": sum(1 for s in sentences if mentions(subject, s)),
        "repeated": repeated_facts(sentences),
        "dangling": dangling,
        "fragments": sum(1 for p in singles if is_fragment(p, corpus)),
        "appendix": round(len(appendix) / max(1, len(text)), 3),
    })
    return row


def table(rows: list[dict], title: str) -> list[str]:
    out = [f"## {title}", "",
           f"{'topic':<16} exit coverage sentences subject% repeated dangling fragments appendix%",
           ]
    for r in rows:
        if "error" in r:
            out.append(f"{r['topic']:<16} {r['exit']:>4} ERROR {r['error']}")
            continue
        share = f"{100 * r['subject'] / r['sentences']:.0f}" if r["sentences"] else "—"
        cov = f"{r['coverage']:.2f}" if r.get("coverage") is not None else "—"
        out.append(f"{r['topic']:<16} {r['exit']:>4} {cov:>8} {r['sentences']:>9} {share:>8} {r['repeated']:>8} "
                   f"{r['dangling']:>8} {r['fragments']:>9} {100 * r['appendix']:>9.1f}")
    ok = [r for r in rows if "error" not in r]
    n = sum(r["sentences"] for r in ok)
    codes = {}
    for r in rows:
        codes[r["exit"]] = codes.get(r["exit"], 0) + 1
    out += [
        "",
        f"exit codes: {', '.join(f'{k}×{v}' for k, v in sorted(codes.items()))}",
        f"sentences: {n} in {len(ok)} reports; naming the subject: "
        f"{100 * sum(r['subject'] for r in ok) / n:.1f} %" if n else "sentences: 0",
        f"repeated facts per report: {sum(r['repeated'] for r in ok) / max(1, len(ok)):.2f} "
        f"(max {max((r['repeated'] for r in ok), default=0)})",
        f"dangling openings: {sum(r['dangling'] for r in ok)}; fragments: {sum(r['fragments'] for r in ok)}",
        f"appendix share: mean {100 * sum(r['appendix'] for r in ok) / max(1, len(ok)):.1f} % of the report",
        "",
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--topics", nargs="*", help="measure these topics instead of the fixed lists")
    ap.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose yanbao is run")
    args = ap.parse_args()
    corpus = corpus_text()
    checkout = args.checkout.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        def one(topic: str) -> dict:
            return measure(topic, corpus, Path(tmp) / f"t{abs(hash(topic))}", checkout)

        lists = [("custom", args.topics)] if args.topics else [("on-topic", ON_TOPIC), ("off-topic", OFF_TOPIC)]
        which = "" if checkout == ROOT else f", yanbao of {checkout}"
        lines = [f"# report_quality ({time.strftime('%Y-%m-%d')}, extractive engine, sources/{which})", ""]
        for name, topics in lists:
            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                rows = list(pool.map(one, topics))
            lines += table(rows, f"{name} ({len(topics)} topics)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
