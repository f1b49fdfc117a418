"""Turning a stage's inputs into a `Task`: the Chinese prompt, the quoted sources, the token budget.

Every stage module calls `ask()`. It renders `prompts/<name>.md.j2`, fits the quoted sources into the
prompt budget (most relevant passages first, never "the first N characters"), sends the task, checks
what came back (`pipeline.kinds.slotcheck`: echoes, narration of the article, repeated points, a reply cut at
the token limit), asks once more with the reasons when the answer fails, and writes anything that went
wrong into the journal, so a failed slot is visible in the report and in `run.json` instead of being
papered over. `settle_repeats()` then checks, in report order, that no slot repeats an earlier one.

Prefix reuse. Servers keep the computed prompt of a request and reuse its longest common prefix for the
next one (Ollama and llama.cpp both do). So the slot prompts (analysis, synthesis, digest, commentary)
put what the slots of one worker share first (rules, topic, summaries, sources, requirements) and the
slot's own instruction last, and the sources are budgeted against the longest instruction of the
family rather than the slot's own, so every slot quotes the same passages: the shared part is a
byte-identical prefix and the server evaluates only each slot's tail.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Generic, Protocol, TypedDict

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel

from pipeline.kinds.folders import PROMPTS_DIR, prompt_dirs
from pipeline.kinds.slotcheck import (
    Problem,
    Seen,
    Wording,
    bigrams,
    drop_points,
    problems,
    repeats,
    seen_in,
    sentences,
    statements,
    tidy,
    trim_cut,
)
from pipeline.llm.base import LLM, ChatMessage, Completion, PromptTooLarge, T, Task, capabilities
from pipeline.llm.budget import clip_to_tokens, estimate_tokens
from pipeline.models import Doc, TaskContext
from pipeline.search.base import Fetcher, NoSearch, StepSearch

MIN_DOC_TOKENS = 120  # below this a source says nothing useful; drop it instead (and say so)


class Degraded(TypedDict):
    """A step that could not do all it should (run.json's `degraded`, the report's notices)."""

    step: str
    reason: str


class Note(TypedDict):
    """A step's remark on how it worked around something (run.json's `notes`)."""

    step: str
    note: str


class Journal:
    """What went wrong or was worked around during a run, plus progress lines. Thread-safe."""

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self.degraded: list[Degraded] = []
        self.notes: list[Note] = []
        self._progress = progress
        self._lock = threading.Lock()

    def degrade(self, step: str, reason: str) -> None:
        with self._lock:
            entry = Degraded(step=step, reason=reason)
            if entry not in self.degraded:
                self.degraded.append(entry)

    def note(self, step: str, text: str) -> None:
        with self._lock:
            self.notes.append(Note(step=step, note=text))

    def progress(self, message: str) -> None:
        if self._progress is not None:
            self._progress(message)


@dataclass
class StageEnv:
    """What a stage needs from the outside world, passed in so stages stay testable."""

    llm: LLM
    journal: Journal
    prompt_tokens: int  # the prompt budget: num_ctx minus num_predict minus a reserve
    search: StepSearch = field(default_factory=lambda: NoSearch())  # the run's: pipeline.run.store.RecordingSearch
    # The run's (pipeline.run.store.RecordingFetcher): web items of a digest are read with it, and the pages
    # behind search hits when `fetch_pages` > 0. Pages it could not read are in the run store.
    fetcher: Fetcher | None = None
    fetch_pages: int = 0  # pages read per search (0: search results are used as they come)
    results_per_query: int = 5
    answers: Answers = field(default_factory=lambda: Answers())  # every slot answer of the run, by step


def _env() -> Environment:
    return _environment(prompt_dirs())


@lru_cache(maxsize=4)
def _environment(dirs: tuple[Path, ...]) -> Environment:
    """Prompts from the project's `prompts/`, then from each registered kind's own prompt folder."""
    return Environment(
        loader=FileSystemLoader([str(d) for d in dirs]),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def prompt_path(name: str) -> Path:
    """The file of prompt `name` (`commentary.md.j2`): the first prompt folder that has it."""
    for folder in prompt_dirs():
        if (folder / name).is_file():
            return folder / name
    return PROMPTS_DIR / name  # reading it says what is missing


def slot_prompts() -> dict[str, dict[str, str]]:
    """Every slot's instruction and JSON shape (`<prompt>.<slot>`): `slots.yaml` of each prompt folder."""
    return _slot_prompts(prompt_dirs())


@lru_cache(maxsize=4)
def _slot_prompts(dirs: tuple[Path, ...]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for folder in dirs:
        path = folder / "slots.yaml"
        if path.is_file():
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def slot_families() -> frozenset[str]:
    """Prompts whose slots are listed in a `slots.yaml` as `<prompt>.<slot>`: their instruction comes last."""
    return frozenset(k.split(".", 1)[0] for k in slot_prompts())




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
def prompt_labels(prompt: str, *schemas: type[BaseModel]) -> Labels:
    """The labels of `prompts/<prompt>.md.j2` (its literal text, without the Jinja variables) and of
    the pydantic `schemas` the prompt asks for."""
    literal = _JINJA.sub(" ", prompt_path(f"{prompt}.md.j2").read_text(encoding="utf-8"))
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


#: Variables of a slot prompt that differ between the slots of one worker: rendered after the shared part.
TAIL_VARIABLES = ("instruction", "shape", "outline", "section")
#: Room kept for the slot's own part beyond the longest instruction and shape (outline, section title).
TAIL_SLACK = 200


def _schema_texts(schema: type[BaseModel]) -> list[str]:
    """Every property name, title and description of a slot model, nested models included."""
    from pipeline.llm.validate import json_schema_for

    texts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                texts.append(str(name))
                if isinstance(prop, dict):
                    texts.append(str(prop.get("description", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json_schema_for(schema))
    return texts


def placeholders(shape: str) -> list[str]:
    """The example values of a slot's JSON shape ("小标题", "要点" …), not its keys."""
    return [m.group(1).strip() for m in re.finditer(r'"([^"]*)"', shape)
            if not re.match(r"\s*:", shape[m.end():]) and m.group(1).strip() and m.group(1).strip() != "..."]


@lru_cache(maxsize=128)
def slot_wording(prompt: str, schema: type[BaseModel], instruction: str = "", shape: str = "") -> Wording:
    """What the prompt of a slot says about itself (`pipeline.kinds.slotcheck.Wording`): the labels of the
    template, the slot model's field names and descriptions, the JSON example's placeholders, and the
    character pairs of the system prompt, the template's literal text, the instruction and the shape.

    A placeholder that the instruction offers as a choice (需求侧、供给侧…, 企业用户、投资者…) is a fair
    title, so it is not one here; 小标题 or 要点 is never content."""
    base = prompt_labels(prompt, schema)
    shown = placeholders(shape)
    texts = _schema_texts(schema) + shown + re.findall(r'"([^"]+)"\s*:', shape)
    chars = set(base.chars) | {c for t in texts for c in _CJK_CHAR.findall(t)}
    words = set(base.words) | {w.lower() for t in texts for w in _OTHER_WORD.findall(t)}
    literal = _JINJA.sub(" ", prompt_path(f"{prompt}.md.j2").read_text(encoding="utf-8"))
    system = prompt_path("system.md.j2").read_text(encoding="utf-8")
    generic = (set(shown) - _offered(shown, instruction)) | set(_generic_placeholders())
    return Wording(
        chars=frozenset(chars), words=frozenset(words),
        placeholders=frozenset(_compact(p) for p in generic - _offered(generic, instruction) if _compact(p)),
        pairs=bigrams(literal) | bigrams(system) | bigrams(instruction) | bigrams(shape),
    )


def _offered(names: set[str] | list[str], instruction: str) -> set[str]:
    """The names an instruction offers as choices (需求侧、供给侧…; 企业用户、投资者…)."""
    return {p for p in names if re.search(re.escape(p) + r"\s*[、/]|[、/]\s*" + re.escape(p), instruction)}


@lru_cache(maxsize=1)
def _generic_placeholders() -> tuple[str, ...]:
    """The placeholders of every slot's JSON example that its own instruction does not offer as a choice
    (小标题, 要点, 标题, 段落 …): an answer that is one of them is no content, in any slot."""
    found: set[str] = set()
    for spec in slot_prompts().values():
        shown = placeholders(spec["shape"])
        found |= set(shown) - _offered(shown, spec["instruction"])
    return tuple(sorted(found))


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


@lru_cache(maxsize=16)
def tail_reserve(name: str) -> int:
    """Tokens kept for the slot's own part of prompt `name`: its family's longest instruction and
    shape (slots.yaml) plus `TAIL_SLACK`; 0 for a prompt without slots."""
    if name not in slot_families():
        return 0
    family = [v for k, v in slot_prompts().items() if k.startswith(f"{name}.")]
    return max(estimate_tokens(v["instruction"]) + estimate_tokens(v["shape"]) for v in family) + TAIL_SLACK


def render_messages(name: str, step: str, journal: Journal, budget: int, variables: dict[str, object]) -> list[ChatMessage]:
    """Render prompt `name` with variables; `documents` (list[Doc]) is quoted into `documents_block`.

    For a slot prompt the budget of the sources is the same for every slot of the family (the slot's
    own variables are left out and `tail_reserve` kept instead), so the slots of one worker quote the
    same passages and their prompts share everything up to the instruction."""
    system = _env().get_template("system.md.j2").render()
    template = _env().get_template(f"{name}.md.j2")
    given = variables.get("documents_for_block", [])
    docs = [d for d in given if isinstance(d, Doc)] if isinstance(given, list) else []
    variables = {k: v for k, v in variables.items() if k != "documents_for_block"}
    reserve = tail_reserve(name)

    def skeleton_tokens() -> int:
        shared = {**variables, **{k: type(variables[k])() for k in TAIL_VARIABLES if k in variables}} if reserve else variables
        return estimate_tokens(system) + estimate_tokens(template.render(**shared, documents_block="")) + reserve

    # Fit the fixed part first: a running summary can outgrow the window after many loops.
    fixed = skeleton_tokens()
    summary = variables.get("summary")
    if isinstance(summary, str) and fixed > budget // 2 and summary:
        room = max(budget // 2 - (fixed - estimate_tokens(summary)), 200)
        variables["summary"] = clip_to_tokens(summary, room)
        journal.degrade(step, f"running summary clipped to ~{room} tokens to fit num_ctx")
        fixed = skeleton_tokens()
    focus = str(variables.get("query") or variables.get("subtopic") or variables.get("topic") or "")
    block = documents_block(docs, budget - fixed, focus, step, journal)
    user = template.render(**variables, documents_block=block)
    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]


def ask(
    env: StageEnv,
    *,
    kind: str,
    step: str,
    schema: type[T],
    context: TaskContext,
    prompt: str,
    variables: dict[str, object],
    post: Callable[[T], T] | None = None,
    checked: bool | None = None,
) -> T | None:
    """Fill one slot. Returns None (and journals why) when the engine could not fill it, or when its
    answer failed the content checks after one retry and no point could be saved. `post` (e.g. removing
    citations to unknown sources) is applied to every answer before it is checked."""
    # An engine that is not generative (the extractive one) reads the structured context, never the
    # prompt: rendering (and budgeting) one for it would only fill the journal with notes nobody reads.
    if not capabilities(env.llm).generative:
        messages: list[ChatMessage] = []
    else:
        messages = render_messages(prompt, step, env.journal, env.prompt_tokens, variables)
    wording = None
    # The report's slots get the content checks (`pipeline.kinds.slotcheck`): every slot of a slots.yaml
    # family (analysis.…, digest.…), and what a stage asks for (`checked=True`: the running summary).
    checks = checked if checked is not None else kind.split(".", 1)[0] in slot_families() and "." in kind
    if checks:
        subject = tuple(str(variables.get(k) or "") for k in ("topic", "subtopic", "item", "section"))
        wording = replace(slot_wording(prompt, schema, str(variables.get("instruction", "")),
                                       str(variables.get("shape", ""))), subject=subject)
    answer = Answer(env, Task(step=step, kind=kind, schema=schema, messages=messages, context=context),
                    wording if checks else None, post, checked=checks)
    answer.settle()
    env.answers.put(step, answer)
    return answer.value


RETRY_MIN_QUOTE = 64  # tokens of the first answer a retry must be able to quote back
RETRY_PROMPT = (
    "你上一次的回答未通过检查：{reasons}。请重新回答：{shorter}每条要点写不同的内容，不要重复报告其他部分已经写过的内容；"
    "直接陈述资料中的事实和关键数字（数字照抄原文），并在句末标注资料编号[n]；不要描述文章本身（例如“本文介绍了…”），"
    "不要照抄提示里的字段名、标签或示例。只输出一个符合给定JSON结构的JSON对象。"
)


class Answer(Generic[T]):
    """One slot's answer through its checks: the engine's reply, tidied (whitespace runs, broken
    citation marks), trimmed at a sentence end when the reply was cut at the token limit, `post`
    applied, then checked; a failing answer is asked for once more with the reasons (the retry repeats
    the prompt and the answer, so the server reuses all of it), and what still fails is removed point by
    point, or the slot is left out, saying why (`degraded`). Engines without a prompt (the extractive
    engine) get no retry: their failing points are removed at once."""

    def __init__(self, env: StageEnv, task: Task[T], wording: Wording | None, post: Callable[[T], T] | None,
                 checked: bool = True) -> None:
        self.env = env
        self.task = task
        self.wording = wording
        self.post = post
        self.checked = checked
        self.value: T | None = None
        self.retried = False
        self._said = ""  # the model's last answer as JSON: what a retry quotes back to it
        self._result: Completion[T] | None = None  # the reply last received
        self._kept: Completion[T] | None = None  # the reply whose answer is the current one

    @property
    def step(self) -> str:
        return self.task.step

    def settle(self) -> None:
        value, found = self._ask(self.task)
        if value is not None and found and self._can_retry():
            value, found = self._retry(value, found, [])
        self._conclude(value, found)

    def settle_repeats(self, seen: list[Seen]) -> None:
        """Check the answer against what the report already says; retry once (if this slot has not been
        retried yet) with the repeats named, then remove the repeated points or leave the slot out."""
        if self.value is None:
            return
        found = repeats(self.value, seen)
        if not found:
            return
        value: T | None = self.value
        if self._can_retry():
            value, found = self._retry(self.value, found, seen)
        self._conclude(value, found)

    # -- internals -------------------------------------------------------------------------------

    def _can_retry(self) -> bool:
        return self.checked and bool(self.task.messages) and not self.retried

    def _ask(self, task: Task[T]) -> tuple[T | None, list[Problem]]:
        result = self.env.llm.complete(task)
        for note in result.notes:
            self.env.journal.note(self.step, note)
        if result.value is None:
            self.env.journal.degrade(self.step, result.degraded or "no valid output")
            return None, []
        self._result = self._kept = result
        self._said = json.dumps(result.value.model_dump(), ensure_ascii=False)
        value: T = tidy(result.value) if self.checked else result.value
        if self.checked:
            said, kept = (sum(len(sentences(p.text)) for p in statements(v)) for v in (result.value, value))
            if kept < said:
                self.env.journal.note(self.step, f"{said - kept} repeated sentences removed (the first saying kept)")
        found: list[Problem] = []
        if result.truncated and self.checked:  # plans and queries are no sentences: they stay as repaired
            trimmed = trim_cut(value)
            if trimmed is None:
                found.append(Problem("cut", "回答超出长度上限，在中途被截断"))
            elif trimmed != value:
                self.env.journal.note(self.step, "reply cut at the token limit: trimmed at its last sentence end")
                value = trimmed
        if self.post is not None:
            value = self.post(value)
        if self.checked:
            found += problems(value, self.wording)
        return value, found

    def _retry(self, value: T, found: list[Problem], seen: list[Seen]) -> tuple[T | None, list[Problem]]:
        self.retried = True
        first = self._result
        shorter = "写得更短，每条要点一句话；" if any(p.kind == "cut" for p in found) else ""
        ask = RETRY_PROMPT.format(reasons="；".join(p.reason for p in found[:5]), shorter=shorter)
        # The retry repeats the prompt (budgeted to fill the window) and quotes the answer: the answer
        # is quoted only as far as the window has room, and without room for any of it there is no
        # retry (the slot keeps its first answer and its problems: an honest, degraded slot).
        used = sum(estimate_tokens(str(m.get("content", ""))) for m in self.task.messages) + estimate_tokens(ask)
        room = self.env.prompt_tokens - used
        if room < RETRY_MIN_QUOTE:
            self.env.journal.note(self.step, "answer failed the content checks; no room in num_ctx to ask again")
            return value, found
        said = clip_to_tokens(self._said, room)
        messages = [*self.task.messages, ChatMessage(role="assistant", content=said),
                    ChatMessage(role="user", content=ask)]
        self.env.journal.note(self.step, f"answer failed the content checks, asked again: {'；'.join(p.reason for p in found[:3])}")
        try:
            again, more = self._ask(replace(self.task, messages=messages))
        except PromptTooLarge:  # the engine's own estimate disagrees: no retry, as above
            self.env.journal.note(self.step, "answer failed the content checks; no room in num_ctx to ask again")
            self._kept = first
            return value, found
        if again is None:
            self._kept = first
            return value, found
        more = more + repeats(again, seen)
        if _weight(more) <= _weight(found):
            self._reject(first, found)
            return again, more
        self._reject(self._result, more)
        self._kept = first
        return value, found

    def _conclude(self, value: T | None, found: list[Problem]) -> None:
        if value is None or not found:
            self.value = value
            return
        why = "；".join(p.reason for p in found[:4]) + (f"等{len(found)}处" if len(found) > 4 else "")
        drops = [d for p in found for d in p.drop]
        if all(p.drop for p in found):
            kept = drop_points(value, drops)
            if kept is not None:
                self.value = kept
                self.env.journal.degrade(self.step, f"删去了未通过内容检查的{len(set(drops))}处：{why}")
                return
        self.value = None
        self.env.journal.degrade(self.step, f"回答未通过内容检查{'（已重试一次）' if self.retried else ''}：{why}")
        self._reject(self._kept, found)

    def _reject(self, result: Completion[T] | None, found: list[Problem]) -> None:
        """Tell the run that this answer was not used (its model-failure count, `runner.model_failure`)."""
        mark = getattr(self.env.llm, "reject", None)
        if result is not None and mark is not None:
            mark(result, "；".join(p.reason for p in found[:3]))


def _weight(found: list[Problem]) -> tuple[int, int]:
    """How bad a list of problems is: those no removal cures first, then how many."""
    return sum(1 for p in found if not p.drop), len(found)


class Settling(Protocol):
    """What `settle_repeats` needs of a slot's answer, whatever its schema (`Answer[T]` is one)."""

    @property
    def checked(self) -> bool: ...

    @property
    def value(self) -> BaseModel | None: ...

    def settle_repeats(self, seen: list[Seen]) -> None: ...


class Answers:
    """The run's slot answers by step (thread-safe), for `settle_repeats`."""

    def __init__(self) -> None:
        self._by_step: dict[str, Settling] = {}
        self._lock = threading.Lock()

    def put(self, step: str, answer: Settling) -> None:
        with self._lock:
            self._by_step[step] = answer

    def get(self, step: str) -> Settling | None:
        with self._lock:
            return self._by_step.get(step)


def settle_repeats(env: StageEnv, order: list[tuple[str, str, list[Seen]]]) -> dict[str, BaseModel | None]:
    """Walk slots in report order — (step, how the report names it, statements it must not repeat
    besides the earlier slots') — and make each one stop repeating what comes before it
    (`Answer.settle_repeats`). Deterministic whatever order the slots were filled in, so a rerun from
    the cache asks the same retries. Returns each step's final value (None: left out)."""
    seen: list[Seen] = []
    out: dict[str, BaseModel | None] = {}
    for step, label, prior in order:
        answer = env.answers.get(step)
        if answer is None:
            continue
        if answer.checked:
            answer.settle_repeats([*prior, *seen])
            seen += seen_in(answer.value, label)
        out[step] = answer.value
    return out
