"""Retrieval quality of the tokenizer's two search users: the local index and passage selection.

    .venv/bin/python bench/retrieval.py [--checkout DIR]

Why: both rank by jieba tokens (`pipeline.text`), so a change of the stop words, the domain words or the
token filters changes what they find. This bench sees such a change; the report benches see it only
through a whole report.

The questions are the curated figures of `sources/facts.yaml` (147): each names an entity, a metric, a
value and the document that states it. For each, the query is "entity metric" (what an analyst would
ask: "英伟达 因许可要求无法发货的H20收入"):

* **search**: where the figure's document ranks in `LocalSearch.search(query, 10)` over `sources/`:
  hit@1, hit@5 and the mean reciprocal rank (0 when not in the ten);
* **passages**: `select_passages(document body, query, budget)` at a tight and a loose token budget
  (60 and 150, what a small model's prompt leaves a source): the share of figures the selected text
  states (as written in facts.yaml, or the same value and unit class by `pipeline.facts.extract`), and
  the mean share of the budget used.

`--checkout DIR` measures another checkout (e.g. `git archive main | tar -x -C DIR`) with the same
questions and rules: this script's code runs with DIR's `pipeline` first on the import path.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose pipeline is measured")
    args = ap.parse_args()
    checkout = args.checkout.resolve()
    sys.path.insert(0, str(checkout))

    import yaml

    from pipeline.documents import iter_source_files, read_document
    from pipeline.facts.extract import decimal_text, extract_claims, parse_quantity, unit_class
    from pipeline.llm.budget import estimate_tokens
    from pipeline.search.local import LocalSearch
    from pipeline.search.passages import select_passages

    sources = ROOT / "sources"
    docs = {p.name: read_document(p) for p in iter_source_files(sources)}
    curated = yaml.safe_load((sources / "facts.yaml").read_text(encoding="utf-8"))["facts"]

    def written(f: dict) -> str:
        hi = f.get("value_hi")
        return decimal_text(f["value"]) + (f"-{decimal_text(hi)}" if hi is not None else "") + f["unit"]

    def states(text: str, f: dict) -> bool:
        """The figure as the curated entry writes it ("1.25美元"), or any spelling the facts extractor
        reads as the same value and unit class ("4,550亿美元"). Both: the extractor reads no figure in
        some headings ("# …从GPT-4每百万tokens 30美元到GPT-5的1.25美元"), which still state it."""
        if written(f) in text:
            return True
        q = parse_quantity(written(f))
        assert q is not None, written(f)
        return any(
            unit_class(c.unit) == unit_class(q.unit) and math.isclose(c.value, q.value, rel_tol=1e-9)
            for c in extract_claims(text)
        )

    budgets = (60, 150)
    ranks: list[int | None] = []
    found = {b: 0 for b in budgets}
    used = {b: 0.0 for b in budgets}
    with tempfile.TemporaryDirectory() as tmp:
        search = LocalSearch(sources, Path(tmp) / "index.db")
        try:
            for f in curated:
                query = f"{f['entity']} {f['metric']}"
                hits = [Path(r.path).name if r.path else "" for r in search.search(query, max_results=10)]
                ranks.append(hits.index(f["source"]) + 1 if f["source"] in hits else None)
                body = docs[f["source"]].body
                for b in budgets:
                    chosen = select_passages(body, query, b)
                    found[b] += states(chosen, f)
                    used[b] += estimate_tokens(chosen) / b
        finally:
            search.close()

    n = len(curated)
    at1 = sum(1 for r in ranks if r == 1)
    at5 = sum(1 for r in ranks if r is not None and r <= 5)
    mrr = sum(1.0 / r for r in ranks if r) / n
    where = "" if checkout == ROOT else f" (pipeline of {checkout})"
    print(f"retrieval over sources/: {n} curated figures, query = entity + metric{where}")
    print(f"search: figure's document first {at1 / n:6.1%} ({at1}/{n}), in the top 5 {at5 / n:6.1%} ({at5}/{n}), "
          f"MRR@10 {mrr:.3f}")
    for b in budgets:
        print(f"passages at {b:3d} tokens: figure stated {found[b] / n:6.1%} ({found[b]}/{n}), "
              f"budget used {used[b] / n:6.1%}")


if __name__ == "__main__":
    main()
