"""Turning a stage's inputs into a `Task`: the Chinese prompt, the quoted sources, the token budget.

Every stage module calls `ask()`. It renders `prompts/<name>.md.j2`, fits the quoted sources into the
prompt budget (most relevant passages first, never "the first N characters"), sends the task, and
writes anything that went wrong into the journal, so a failed slot is visible in the report and in
`run.json` instead of being papered over.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.config import PROJECT_ROOT
from pipeline.llm.base import LLM, T, Task
from pipeline.llm.budget import clip_to_tokens, estimate_tokens
from pipeline.models import Doc, TaskContext

PROMPTS_DIR = PROJECT_ROOT / "prompts"
MIN_DOC_TOKENS = 120  # below this a source says nothing useful; drop it instead (and say so)


class Journal:
    """What went wrong or was worked around during a run, plus progress lines. Thread-safe."""

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self.degraded: list[dict] = []
        self.notes: list[dict] = []
        self._progress = progress
        self._lock = threading.Lock()

    def degrade(self, step: str, reason: str) -> None:
        with self._lock:
            entry = {"step": step, "reason": reason}
            if entry not in self.degraded:
                self.degraded.append(entry)

    def note(self, step: str, text: str) -> None:
        with self._lock:
            self.notes.append({"step": step, "note": text})

    def progress(self, message: str) -> None:
        if self._progress is not None:
            self._progress(message)


@dataclass
class StageEnv:
    """What a stage needs from the outside world, passed in so stages stay testable."""

    llm: LLM
    journal: Journal
    prompt_tokens: int  # the prompt budget: num_ctx minus num_predict minus a reserve
    search: Any = None  # RecordingSearch
    fetcher: Any = None  # pipeline.search.fetch.Fetcher, or None when pages are not read
    fetch_pages: int = 0
    results_per_query: int = 5
    extras: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(PROMPTS_DIR)),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
    return env


@lru_cache(maxsize=1)
def slot_prompts() -> dict[str, dict[str, str]]:
    return yaml.safe_load((PROMPTS_DIR / "slots.yaml").read_text(encoding="utf-8"))


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_LABEL_HEAD = re.compile(r"^[\s\-*]*([^：:\n]{1,40}?)\s*[：:]", re.M)  # `研究主题：`, `输出 JSON：`
_MARKER = re.compile(r"<<<(.+?)>>>")  # `<<<摘要 开始>>>`
_QUOTED = re.compile(r'"([^"\n]+)"')  # the keys and placeholders of `输出 JSON：{"query": "查询词"}`
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")
_OTHER_WORD = re.compile(r"[^\W_\u3400-\u9fff]+")  # a run of letters or digits that is not CJK


@dataclass(frozen=True)
class Labels:
    """What a prompt says about itself rather than about the topic: its line labels (`研究主题`,
    `子主题`), markers, the keys and placeholders of its JSON example, and the slot's field names,
    titles and descriptions. `chars` are their CJK characters, `words` their other words, lower-case."""

    chars: frozenset[str]
    words: frozenset[str]


@lru_cache(maxsize=64)
def prompt_labels(prompt: str, *schemas: type) -> Labels:
    """The labels of `prompts/<prompt>.md.j2` (its literal text, without the Jinja variables) and of
    the pydantic `schemas` the prompt asks for."""
    literal = _JINJA.sub(" ", (PROMPTS_DIR / f"{prompt}.md.j2").read_text(encoding="utf-8"))
    texts = _LABEL_HEAD.findall(literal) + _MARKER.findall(literal) + _QUOTED.findall(literal)
    for schema in schemas:
        for name, prop in schema.model_json_schema().get("properties", {}).items():
            texts += [name, str(prop.get("title", "")), str(prop.get("description", ""))]
    return Labels(
        chars=frozenset(c for t in texts for c in _CJK_CHAR.findall(t)),
        words=frozenset(w.lower() for t in texts for w in _OTHER_WORD.findall(t)),
    )


def _compact(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text).lower()


def echoes(text: str, labels: Labels, *subject: str) -> bool:
    """Whether an answer says nothing but the prompt's own labels: every CJK character of it is a label
    character and every other word a label word (`搜索词`, `查询词`, `follow_up_query`, `子主题1`);
    bare digits and punctuation say nothing either. Text that `subject` (the topic, the sub-topic)
    contains is never an echo: restating the subject is a fair answer even if its words are labels."""
    compact = _compact(text)
    if not compact:
        return True
    if any(compact in _compact(s) for s in subject if s):
        return False
    if any(c not in labels.chars for c in _CJK_CHAR.findall(text)):
        return False
    return all(w.isdigit() or w in labels.words for w in _OTHER_WORD.findall(text.lower()))


def quote(text: str, ref: int) -> str:
    """Wrap source text as quoted data (see pipeline.search.passages.quote_as_data)."""
    from pipeline.search.passages import quote_as_data

    return quote_as_data(text, ref)


def documents_block(docs: list[Doc], budget: int, query: str, step: str, journal: Journal) -> str:
    """Quote the documents within `budget` tokens, each reduced to its passages most relevant to `query`."""
    from pipeline.search.passages import select_passages

    if not docs:
        return "（无）"
    kept = list(docs)
    while kept and budget // len(kept) < MIN_DOC_TOKENS:
        dropped = kept.pop()
        journal.note(step, f"source [{dropped.ref}] left out of the prompt: no room within num_ctx")
    if not kept:
        journal.degrade(step, "no room for any source within num_ctx; raise --num-ctx")
        return "（无）"
    share = budget // len(kept)
    parts = []
    for d in kept:
        header = f"[{d.ref}] {d.title}"
        room = share - estimate_tokens(header) - 24
        text = d.text
        if estimate_tokens(text) > room:
            text = select_passages(text, query, room)
            journal.note(
                step,
                f"source [{d.ref}] reduced from ~{estimate_tokens(d.text)} to ~{estimate_tokens(text)} tokens "
                "(most relevant passages kept)",
            )
        parts.append(header + "\n" + quote(text, d.ref))
    return "\n\n".join(parts)


def render_messages(name: str, step: str, journal: Journal, budget: int, variables: dict[str, Any]) -> list[dict]:
    """Render prompt `name` with variables; `documents` (list[Doc]) is quoted into `documents_block`."""
    system = _env().get_template("system.md.j2").render()
    template = _env().get_template(f"{name}.md.j2")
    docs: list[Doc] = variables.get("documents_for_block", [])
    variables = {k: v for k, v in variables.items() if k != "documents_for_block"}
    # Fit the fixed part first: a running summary can outgrow the window after many loops.
    skeleton = template.render(**variables, documents_block="")
    fixed = estimate_tokens(system) + estimate_tokens(skeleton)
    if "summary" in variables and fixed > budget // 2 and variables["summary"]:
        room = max(budget // 2 - (fixed - estimate_tokens(variables["summary"])), 200)
        variables["summary"] = clip_to_tokens(variables["summary"], room)
        journal.degrade(step, f"running summary clipped to ~{room} tokens to fit num_ctx")
        skeleton = template.render(**variables, documents_block="")
        fixed = estimate_tokens(system) + estimate_tokens(skeleton)
    focus = variables.get("query") or variables.get("subtopic") or variables.get("topic") or ""
    block = documents_block(docs, budget - fixed, focus, step, journal)
    user = template.render(**variables, documents_block=block)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def ask(
    env: StageEnv,
    *,
    kind: str,
    step: str,
    schema: type[T],
    context: TaskContext,
    prompt: str,
    variables: dict[str, Any],
) -> T | None:
    """Fill one slot. Returns None (and journals why) when the engine could not fill it."""
    # The extractive engine reads the structured context, never the prompt: rendering (and budgeting)
    # one for it would only fill the journal with notes about prompts nobody reads.
    if env.llm.provider == "extractive":
        messages: list[dict] = []
    else:
        messages = render_messages(prompt, step, env.journal, env.prompt_tokens, variables)
    result = env.llm.complete(Task(step=step, kind=kind, schema=schema, messages=messages, context=context))
    for note in result.notes:
        env.journal.note(step, note)
    if result.value is None:
        env.journal.degrade(step, result.degraded or "no valid output")
    return result.value
