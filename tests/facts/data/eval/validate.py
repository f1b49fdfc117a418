"""Check the evaluation set's format: every span is in its text, every field has an allowed value.

    python tests/facts/data/eval/validate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CATEGORIES = {"copied", "paraphrase", "restatement", "change_and_level", "digit_error", "unit_error",
              "approx_error", "misattributed", "derived", "unsupported", "opinion"}
STATUSES = {"verified", "contradicted", "unsupported"}


def problems(path: Path) -> list[str]:
    out: list[str] = []
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("id", "domain", "kind", "source", "items"):
        if key not in data:
            out.append(f"missing {key}")
    if data.get("kind") not in {"news", "opinion"}:
        out.append(f"kind {data.get('kind')!r}")
    if not path.name.startswith(str(data.get("id", "?")) + "-"):
        out.append(f"file name does not start with id {data.get('id')}")
    for i, item in enumerate(data.get("items") or []):
        where = f"item {i}"
        if item.get("category") not in CATEGORIES:
            out.append(f"{where}: category {item.get('category')!r}")
        text = item.get("text") or ""
        pos = 0
        for n in item.get("numbers") or []:
            span = str(n.get("span", ""))
            at = text.find(span, pos)
            if not span or at < 0:
                out.append(f"{where}: span {span!r} not found in order in {text!r}")
                continue
            pos = at + len(span)
            if n.get("status") not in STATUSES:
                out.append(f"{where}: status {n.get('status')!r}")
            if not isinstance(n.get("value"), (int, float)):
                out.append(f"{where}: value {n.get('value')!r} is not a number")
            if not n.get("unit") and n.get("unit") != "":
                out.append(f"{where}: unit missing for {span!r}")
    return out


def main() -> int:
    files = sorted((HERE / "passages").glob("[pdefghijk]*.yaml"))
    bad = 0
    claims = 0
    for f in files:
        try:
            errs = problems(f)
        except Exception as exc:  # noqa: BLE001 - a validator reports every broken file
            errs = [f"unreadable: {exc}"]
        data = yaml.safe_load(f.read_text(encoding="utf-8")) if not errs or "unreadable" not in errs[0] else {}
        claims += sum(len(it.get("numbers") or []) for it in (data or {}).get("items") or [])
        for e in errs:
            print(f"{f.name}: {e}")
        bad += bool(errs)
    print(f"{len(files)} passages, {claims} labelled numbers, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
