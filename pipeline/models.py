"""Pydantic types shared by every report kind.

* data that flows between stages (`SearchResult`, `Doc`, `TaskContext`, `WorkerResult`), and
* what the kinds' slots share (`Group`, `cues`). Each kind's own slots live in its folder
  (`pipeline/kinds/<kind>/slots.py`). Slots are deliberately small: one call fills one slot model, so
  a small model only has to produce a short JSON object, and a failure costs one slot, not the report.
  Field descriptions double as the "intent" the extractive engine uses to pick sentences
  (`json_schema_extra={"cues": [...]}`), so the same schema drives both engines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

# JSON as it crosses a seam (cache identities, run-store rows, check.json): what `json.dumps` writes.
# Mapping and Sequence (read-only, so covariant) let a `dict[str, int]` pass where JSON is expected.
JSONValue: TypeAlias = "str | int | float | bool | None | Sequence[JSONValue] | Mapping[str, JSONValue]"
JSONObject: TypeAlias = "Mapping[str, JSONValue]"
# run.json as the runner builds it (pipeline/run/runner.py): JSON whose many keys its readers pick from
# with `.get` and defaults. `Any` until the manifest has a type of its own.
Manifest: TypeAlias = "Mapping[str, Any]"

#: Slot fields whose strings label things rather than state them (a group's title, a metric's name):
#: the content checks do not judge them as points, and code writes no citation into them.
LABEL_FIELDS = frozenset({"title", "name", "value", "category", "headline", "hook", "titles"})


def source_id(url: str) -> str:
    """Stable id of a source: the same URL is the same source across workers and runs."""
    return hashlib.sha1(url.strip().encode("utf-8")).hexdigest()[:12]


class SearchResult(BaseModel):
    """One hit from a search backend (DuckDuckGo, local corpus, or a fetched page)."""

    title: str
    url: str
    snippet: str = ""
    content: str = ""  # full text when the backend has it (local document, fetched page)
    publisher: str = ""
    date: str = ""
    engine: str = ""
    path: str | None = None  # local file behind the hit, if any

    @property
    def id(self) -> str:
        return source_id(self.url)

    @property
    def text(self) -> str:
        """The richest text we have for this hit."""
        return self.content or self.snippet


class Doc(BaseModel):
    """A source as shown to a stage: `ref` is the citation number the stage may write as [ref]."""

    ref: int
    source_id: str
    title: str
    url: str
    text: str


class TaskContext(BaseModel):
    """Structured inputs of a stage call.

    The Ollama engine only sees the rendered prompt; the extractive engine ignores the prompt and works
    from these fields. Keeping both in one object is what lets the two engines sit behind one interface.
    """

    topic: str
    subtopic: str = ""
    breadth: int = 1
    loop: int = 0
    summary: str = ""
    queries: list[str] = Field(default_factory=list)
    documents: list[Doc] = Field(default_factory=list)
    # For analysis/synthesis: the text of the earlier stages, keyed by a readable label.
    notes: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Slots. Every list has bounds so that a model that rambles is cut by validation, not by the page.
# ---------------------------------------------------------------------------------------------


def cues(*words: str) -> JsonDict:
    """A slot field's cue words for the extractive engine (`json_schema_extra=cues("显示", ...)`)."""
    return {"cues": [*words]}


class Group(BaseModel):
    """A short sub-head with its bullets."""

    title: str = Field(description="小标题，不超过20字")
    points: list[str] = Field(min_length=1, max_length=8, description="要点：陈述资料中的事实和数字，句末标注[n]")


class WorkerResult(BaseModel):
    """One research worker: its sub-topic, the queries it ran, the sources it used and its summary."""

    index: int
    subtopic: str
    queries: list[str] = Field(default_factory=list)
    derived_queries: list[int] = Field(default_factory=list)  # loops whose query code derived
    sources: list[SearchResult] = Field(default_factory=list)  # in order of first use
    summary: str = ""  # citations as [[src:<id>]] markers, renumbered at render time
    loops: int = 0
