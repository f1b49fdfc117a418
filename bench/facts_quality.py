"""Quality of the facts check on the hand-labelled evaluation set (tests/facts/data/eval/).

    .venv/bin/python bench/facts_quality.py [--half test|dev|all] [--show CATEGORY]

Every passage's `source` is imported into a store of its own; every item is checked as a report
against it. Labelled numbers are matched to extracted claims by overlapping spans. The *test* half
(even passage numbers) is what we report; the *dev* half (odd numbers) is what we study. Prints the
issue-10 table (targets beside the figures), extraction precision/recall, and accuracy per category
and per status. Unrelated pairs: every item of a passage checked against the source of a passage of
another domain (its numbers must all come back unsupported).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.facts.check import check_text  # noqa: E402
from pipeline.facts.store import FactStore  # noqa: E402

EVAL = ROOT / "tests" / "facts" / "data" / "eval" / "passages"


@dataclass
class Label:
    passage: str
    category: str
    kind: str
    text: str
    span: str
    start: int
    end: int
    status: str


@dataclass
class Outcome:
    label: Label | None
    predicted: str  # verified | contradicted | unsupported | missing (not extracted)
    claim_text: str = ""


def load(half: str) -> list[dict]:
    """Passages pNN: odd numbers are the dev half, even the test half; dNN are dev only (an extra
    set of restatements written later to study, never scored as the test half)."""
    out = []
    for f in sorted(EVAL.glob("[pdefghijk]*.yaml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        ident = str(data["id"])
        dev = ident[0] in "defghijk" or int(ident.lstrip("p")) % 2 == 1
        if half == "all" or (half == "dev") == dev:
            out.append(data)
    return out


def labels_of(p: dict, item: dict) -> list[Label]:
    text = item["text"]
    pos = 0
    out = []
    for n in item.get("numbers") or []:
        span = str(n["span"])
        at = text.find(span, pos)
        if at < 0:
            continue
        pos = at + len(span)
        out.append(Label(p["id"], item["category"], p["kind"], text, span, at, at + len(span), n["status"]))
    return out


def run_item(store: FactStore, p: dict, item: dict) -> tuple[list[Outcome], int]:
    """Outcomes of one item's labelled numbers, and the number of extracted claims matching none."""
    report = check_text(item["text"], store)
    labels = labels_of(p, item)
    used: set[int] = set()
    out = []
    for lb in labels:
        hit = None
        for i, c in enumerate(report.claims):
            if i not in used and c.start < lb.end and lb.start < c.end:
                hit = i
                break
        if hit is None:
            out.append(Outcome(lb, "missing"))
        else:
            used.add(hit)
            out.append(Outcome(lb, report.claims[hit].status, report.claims[hit].text))
    spurious = [c for i, c in enumerate(report.claims) if i not in used]
    return out, len(spurious)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f} % ({a}/{b})" if b else "   n/a"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", choices=("test", "dev", "all"), default="test")
    ap.add_argument("--show", default="", help="print the misjudged numbers of this category (dev only)")
    ap.add_argument("--series", default="", help="only passages whose id starts with one of these letters (e.g. f)")
    args = ap.parse_args()
    passages = [p for p in load(args.half) if not args.series or str(p["id"])[0] in args.series]
    outcomes: list[Outcome] = []
    extracted_spurious = 0
    spurious_by_kind: Counter[str] = Counter()
    extracted_by_kind: Counter[str] = Counter()
    stores: dict[str, FactStore] = {}
    for p in passages:
        store = FactStore(":memory:")
        store.import_text(p["source"], title=p["id"], url=f"https://eval.invalid/{p['id']}")
        stores[p["id"]] = store
        for item in p["items"]:
            outs, spur = run_item(store, p, item)
            outcomes.extend(outs)
            extracted_spurious += spur
            spurious_by_kind[p["kind"]] += spur
            extracted_by_kind[p["kind"]] += spur + sum(1 for o in outs if o.predicted != "missing")

    # unrelated: each passage's items against the next passage (cyclically) of another domain
    unrelated: Counter[str] = Counter()
    for i, p in enumerate(passages):
        other = next((q for q in passages[i + 1 :] + passages[:i] if q["domain"] != p["domain"]), None)
        if other is None:
            continue
        for item in p["items"]:
            rep = check_text(item["text"], stores[other["id"]])
            for c in rep.claims:
                unrelated[c.status] += 1
                if args.show == "unrelated" and args.half == "dev" and c.status != "unsupported":
                    print(f"unrelated {p['id']} vs {other['id']} [{c.text}] {c.status}: {item['text']} || {c.evidence[0].quote if c.evidence else ''}")

    by_cat: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        assert o.label is not None
        by_cat[o.label.category].append(o)

    def share(cat: str | tuple[str, ...], want: str, status: str | None = None) -> tuple[int, int]:
        cats = (cat,) if isinstance(cat, str) else cat
        sel = [o for o in outcomes if o.label and o.label.category in cats and (status is None or o.label.status == status)]
        return sum(1 for o in sel if o.predicted == want), len(sel)

    digit = [o for o in outcomes if o.label and o.label.category == "digit_error" and o.label.status == "contradicted"]
    digit_bad = sum(1 for o in digit if o.predicted in ("verified", "missing"))
    digit_contra = sum(1 for o in digit if o.predicted == "contradicted")
    para_v = share("paraphrase", "verified", "verified")
    rest_v = share(("restatement", "change_and_level"), "verified", "verified")
    copied = [o for o in outcomes if o.label and o.label.category == "copied"]
    copied_x = sum(1 for o in copied if o.predicted != "missing")
    copied_v = sum(1 for o in copied if o.predicted == "verified")
    op = [o for o in outcomes if o.label and o.label.kind == "opinion"]
    op_found = sum(1 for o in op if o.predicted != "missing")
    op_prec_den = extracted_by_kind["opinion"]
    unrel_total = sum(unrelated.values())

    n_claims = len(outcomes)
    print(f"facts check on the {args.half} half: {len(passages)} passages, {n_claims} labelled numbers")
    print()
    print("| measure | figure | target |")
    print("|---|---|---|")
    print(f"| one-digit changes verified or not extracted | {pct(digit_bad, len(digit))} | 0 % (>= 97 % caught) |")
    print(f"| one-digit changes labelled 存在出入 | {pct(digit_contra, len(digit))} | >= 80 % |")
    print(f"| correct figures after a meaning-preserving rewrite, verified | {pct(*para_v)} | >= 95 % |")
    print(f"| restatements (merged, split, lead-ins, rate and level), verified | {pct(*rest_v)} | >= 95 % |")
    print(f"| copied sentences: extracted | {pct(copied_x, len(copied))} | >= 97 % |")
    print(f"| copied sentences: verified | {pct(copied_v, len(copied))} | >= 97 % |")
    print(f"| numbers checked against unrelated articles, unsupported | {pct(unrelated['unsupported'], unrel_total)} | >= 95 % |")
    print(f"| numbers checked against unrelated articles, verified | {unrelated['verified']} of {unrel_total} | 0 |")
    print(f"| opinion articles: extraction recall | {pct(op_found, len(op))} | >= 95 % |")
    print(f"| opinion articles: extraction precision | {pct(op_found, op_prec_den)} | >= 0.95 |")

    all_found = sum(1 for o in outcomes if o.predicted != "missing")
    print()
    print(f"extraction over all items: recall {pct(all_found, n_claims)}, precision {pct(all_found, all_found + extracted_spurious)}")
    print()
    print("| category | numbers | status as labelled | verified | contradicted | unsupported | not extracted |")
    print("|---|---|---|---|---|---|---|")
    for cat in sorted(by_cat):
        os_ = by_cat[cat]
        c = Counter(o.predicted for o in os_)
        right = sum(1 for o in os_ if o.label and o.predicted == o.label.status)
        print(f"| {cat} | {len(os_)} | {pct(right, len(os_))} | {c['verified']} | {c['contradicted']} | {c['unsupported']} | {c['missing']} |")
    print()
    print("| labelled status | numbers | predicted the same | predicted verified |")
    print("|---|---|---|---|")
    for st in ("verified", "contradicted", "unsupported"):
        os_ = [o for o in outcomes if o.label and o.label.status == st]
        same = sum(1 for o in os_ if o.predicted == st)
        ver = sum(1 for o in os_ if o.predicted == "verified")
        print(f"| {st} | {len(os_)} | {pct(same, len(os_))} | {pct(ver, len(os_))} |")
    wrong_verified = sum(1 for o in outcomes if o.label and o.predicted == "verified" and o.label.status != "verified")
    print()
    print(f"verified although labelled otherwise: {wrong_verified}")

    if args.show:
        if args.half != "dev":
            print("--show is for the dev half only")
            return
        print()
        for o in outcomes:
            if o.label and (o.label.category == args.show or args.show == "all") and o.predicted != o.label.status:
                print(f"{o.label.passage} {o.label.category} [{o.label.span}] want {o.label.status} got {o.predicted}: {o.label.text}")


if __name__ == "__main__":
    main()
