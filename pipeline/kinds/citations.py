"""Citation numbers are code's business: the model writes [n] against the numbers it was shown;
code drops numbers that point nowhere and maps worker-local numbers to the report's global ones.

A model also writes citation marks that are not `[n]`: a group (`[1,3]`, `[1、3]`, `[1-2]`,
full-width `［2］`), and, when its reply is cut at the token limit, a mark left open (`…增长[19`).
Groups are split into single marks; an open or empty mark is removed, so no broken `[n` reaches a
report (where the facts check would take `19` for a number of the text)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from pipeline.models import SearchResult, WorkerResult

M = TypeVar("M", bound=BaseModel)
_REF = re.compile(r"\[(\d{1,3})\]")
_FULL_WIDTH = str.maketrans("［］０１２３４５６７８９，", "[]0123456789,")
_GROUP = re.compile(r"\[\s*(\d{1,3}(?:\s*[,，、;；]\s*\d{1,3})+)\s*\]")
_RANGE = re.compile(r"\[\s*(\d{1,3})\s*[-–—~～]\s*(\d{1,3})\s*\]")
_PADDED = re.compile(r"\[\s+(\d{1,3})\s*\]|\[(\d{1,3})\s+\]")
#: An opening bracket with digits that no `]` closes (`[19` where a reply was cut), or a last bare `[`
_OPEN = re.compile(r"\[\s*\d{1,4}(?![\d\s]*\])|\[\s*$")
_EMPTY = re.compile(r"\[\s*\]")


def clean_marks(text: str) -> str:
    """Citation marks as `[n]` only: groups and ranges split (`[1,3]` → `[1][3]`, `[2-4]` → `[2][3][4]`),
    full-width brackets and digits inside marks made ASCII, and open or empty marks removed. Text in
    brackets that is not a citation (`[注]`, `[A]`) is left alone."""
    if "[" not in text and "［" not in text:
        return text
    text = re.sub(r"［[\s０-９0-9，,、\-–]*］?", lambda m: m.group(0).translate(_FULL_WIDTH), text)
    text = _GROUP.sub(lambda m: "".join(f"[{n}]" for n in re.findall(r"\d{1,3}", m.group(1))), text)

    def expand(m: re.Match[str]) -> str:
        a, b = int(m.group(1)), int(m.group(2))
        return "".join(f"[{n}]" for n in range(a, b + 1)) if 0 < b - a < 10 else f"[{a}][{b}]"

    text = _RANGE.sub(expand, text)
    text = _PADDED.sub(lambda m: f"[{m.group(1) or m.group(2)}]", text)
    text = _EMPTY.sub("", text)
    return _OPEN.sub("", text)


def keep_valid(text: str, valid: set[int]) -> tuple[str, int]:
    """Remove citation markers whose number is not in `valid`, after `clean_marks`. Returns (text, how
    many were removed)."""
    dropped = 0
    text = clean_marks(text)

    def sub(m: re.Match[str]) -> str:
        nonlocal dropped
        if int(m.group(1)) in valid:
            return m[0]
        dropped += 1
        return ""

    return _REF.sub(sub, text), dropped


def renumber(text: str, mapping: dict[int, int]) -> str:
    """Rewrite [local] as [global]; numbers missing from the mapping are removed."""
    return _REF.sub(lambda m: f"[{mapping[int(m.group(1))]}]" if int(m.group(1)) in mapping else "", text)


def map_strings(model: M, fn: Callable[[str], str]) -> M:
    """Apply `fn` to every string inside a slot model (recursively), returning a new model."""

    def walk(value: object) -> object:
        if isinstance(value, str):
            return fn(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return type(model).model_validate(walk(model.model_dump()))


def number_sources(workers: list[WorkerResult]) -> tuple[list[SearchResult], list[dict[int, int]]]:
    """Global reference list in order of first use (workers in index order: deterministic even when
    workers ran concurrently), and per worker the map from its local numbers to the global ones."""
    refs: list[SearchResult] = []
    index: dict[str, int] = {}
    maps: list[dict[int, int]] = []
    for w in sorted(workers, key=lambda w: w.index):
        mapping: dict[int, int] = {}
        for local, src in enumerate(w.sources, start=1):
            if src.id not in index:
                refs.append(src)
                index[src.id] = len(refs)
            mapping[local] = index[src.id]
        maps.append(mapping)
    return refs, maps
