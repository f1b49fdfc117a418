"""Citation numbers are code's business: the model writes [n] against the numbers it was shown;
code drops numbers that point nowhere and maps worker-local numbers to the report's global ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from pipeline.models import SearchResult, WorkerResult

M = TypeVar("M", bound=BaseModel)
_REF = re.compile(r"\[(\d{1,3})\]")


def keep_valid(text: str, valid: set[int]) -> tuple[str, int]:
    """Remove citation markers whose number is not in `valid`. Returns (text, how many were removed)."""
    dropped = 0

    def sub(m: re.Match) -> str:
        nonlocal dropped
        if int(m.group(1)) in valid:
            return m.group(0)
        dropped += 1
        return ""

    return _REF.sub(sub, text), dropped


def renumber(text: str, mapping: dict[int, int]) -> str:
    """Rewrite [local] as [global]; numbers missing from the mapping are removed."""
    return _REF.sub(lambda m: f"[{mapping[int(m.group(1))]}]" if int(m.group(1)) in mapping else "", text)


def map_strings(model: M, fn: Callable[[str], str]) -> M:
    """Apply `fn` to every string inside a slot model (recursively), returning a new model."""

    def walk(value):
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
