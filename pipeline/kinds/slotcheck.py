"""Content checks on slot answers: what a reader would throw out, whatever engine wrote it.

The JSON schema guarantees an answer's shape, not that it is worth reading. The first instruct model
that wrote Chinese here (issue 14) filled six 趋势分析 groups with the same three bullets, wrote three
identical 情景假设, a research summary about the article ("本文首先介绍了…接着…最后…") with no fact in
it, or only the prompt's own words ("第一轮检索结果整合后的完整摘要"); a tiny base model writes the JSON
example back (小标题, 要点, 1234567890). Every check here reads the *parsed* answer (the pydantic slot
value), so it holds for every engine; `pipeline.kinds.prompting.ask` acts on what it finds (one retry with the
reasons in Chinese, then the slot is kept without the bad points or left honestly degraded).

* **echo**: a point that says nothing but the prompt's own wording: its labels, field names, the JSON
  example's placeholders, or mostly the instruction's own character pairs (`echoes_prompt`);
* **describes the article**: text that narrates the source ("本文介绍了…", "文章分析了…") instead of
  stating what it says (`describes_article`);
* **near-duplicate** points within a slot, and points that **repeat** another slot of the same report:
  `near_duplicate`, character-bigram containment (below);
* **tidying** (`tidy`): whitespace runs collapsed, broken citation marks removed
  (`pipeline.kinds.citations.clean_marks`); a reply cut at the token limit is trimmed at its last sentence end
  (`trim_cut`).

Near-duplicates. Chinese has no spaces, so points are compared as sets of character bigrams (citation
marks, punctuation and spaces removed, NFKC): *containment* |A∩B| / min(|A|, |B|) ≥ `SIMILAR` (0.6) makes
two points the same point, unless each states a figure the other does not (different numbers are
different facts: 342 vs 349亿美元). On a set of 20 near-duplicate and 20 distinct pairs written for this
(`tests/content/similarity_pairs.py`: copies, rewordings, swapped clauses or audiences vs. other
figures, companies, periods, scenarios on the same subject) the near-duplicates score 0.73–1.00 and the
12 distinct pairs whose figures agree 0.00–0.44 (the 8 whose figures differ reach 0.75 in words); 0.6
sits between them. Containment rather than
Jaccard because a point that only adds a lead-in or a clause to another ("值得注意的是，…") says
nothing new; bigrams rather than words because they need no segmenter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.kinds.citations import clean_marks
from pipeline.models import LABEL_FIELDS

M = TypeVar("M", bound=BaseModel)

#: Containment of character bigrams at or above which two points are the same point (module docstring).
SIMILAR = 0.6
#: Share of an answer's character bigrams found in the prompt's own wording at or above which it echoes it.
ECHO_SHARE = 0.7
#: What a slot honestly says when the sources hold nothing for it: never an echo, never a repeat.
NOTHING = "资料不足"

_CITE = re.compile(r"\[\d{1,3}\]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NOISE = re.compile(r"[\W_]+")
_RUN = re.compile(r"[ \t\u3000\xa0]{2,}")
_BLANK_LINES = re.compile(r"\s*\n\s*\n\s*")
_LINE_SPACE = re.compile(r"[ \t\u3000\xa0]*\n[ \t\u3000\xa0]*")
_SENTENCE = re.compile(r"[^。！？!?]+[。！？!?]*")
_SENTENCE_END = re.compile(r"[。！？!?；;]")
_CJK = re.compile(r"[\u3400-\u9fff]")

#: How a reason names a place in a slot (Chinese, for the retry prompt and the run's `degraded`).
_FIELD_WORDS = {
    "groups": "组", "sections": "节", "points": "条", "paragraphs": "段", "questions": "个问题",
    "strengths": "优势", "risks": "风险", "near_term": "近期展望", "long_term": "远期展望",
    "base_case": "基准情景", "optimistic_case": "乐观情景", "cautious_case": "审慎情景",
    "closing": "结语", "text": "正文", "summary": "摘要", "question": "问题", "thesis": "核心论断",
    "metrics": "指标", "title": "标题",
}
#: String fields a slot can do without: a point removed there reads 资料不足 (as the extractive engine
#: writes when the sources hold nothing for it); any other string field cannot be removed.
_FILLABLE = frozenset({"base_case", "optimistic_case", "cautious_case", "closing"})

# An article narrated, not read: "本文首先介绍了…", "文章分析了…", "报告最后总结了…", "接着，探讨了…".
_META_SUBJECT = r"(?:本文|该文|此文|全文|原文|文章|这篇(?:文章|报道|报告|资料)?|本报告|该报告|报告|本篇|资料|材料|作者|笔者|本节|上文)"
_META_VERB = (r"(?:介绍|分析|探讨|讨论|总结|阐述|论述|描述|概述|概括|回顾|讲述|梳理|列举|聚焦|围绕|剖析|解读|"
              r"研究|考察|说明|展示|揭示|提出|提到|提及|涉及|关注)")
_META = re.compile(
    _META_SUBJECT + r"[^，。！？；,]{0,6}?" + _META_VERB
    + r"|^[\s，,]*(?:首先|其次|接着|然后|随后|之后|最后|此外|另外|同时)[\s，,]*(?:还|又|也|则)?" + _META_VERB
    # "第一轮检索中，主要讨论了…": narrating the search rounds, not what the sources say
    + r"|(?:第[一二三四五六七八九十\d]+轮)?检索(?:结果)?中[\s，,]*(?:主要|还|又|也|则|详细)?" + _META_VERB
)


# ---------------------------------------------------------------------------------------------
# Similarity
# ---------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", _CITE.sub("", text))


def _compact(text: str) -> str:
    return _NOISE.sub("", _plain(text)).lower()


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of `text` without citation marks, punctuation or spaces (a one-character
    text is its own gram)."""
    s = _compact(text)
    return frozenset(s[i : i + 2] for i in range(len(s) - 1)) or frozenset([s] if s else [])


def numbers(text: str) -> frozenset[str]:
    """The figures a text states (digits, citation marks excluded)."""
    return frozenset(_NUMBER.findall(_plain(text)))


def containment(a: str, b: str) -> float:
    """|A∩B| / min(|A|, |B|) over character bigrams: 1.0 when one text's pairs all occur in the other."""
    ga, gb = bigrams(a), bigrams(b)
    if not ga or not gb:
        return 0.0
    return len(ga & gb) / min(len(ga), len(gb))


def near_duplicate(a: str, b: str) -> bool:
    """Whether two points say the same thing (module docstring): bigram containment ≥ `SIMILAR`, and
    their figures agree (one's numbers include the other's)."""
    if _compact(a) == _compact(b):
        return bool(_compact(a))
    na, nb = numbers(a), numbers(b)
    if na and nb and not (na <= nb or nb <= na):
        return False
    return containment(a, b) >= SIMILAR


# ---------------------------------------------------------------------------------------------
# Points of a slot
# ---------------------------------------------------------------------------------------------

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Point:
    """One string of a slot answer: where it is (`path` into `model_dump()`), what it says, whether it
    states something (`label` False) or only names something (a title, a metric's name or value)."""

    path: Path
    text: str
    label: bool = False

    @property
    def where(self) -> str:
        return where(self.path)


def where(path: Path) -> str:
    """A place in a slot in words: ("groups", 1, "points", 0) → 第2组第1条, ("risks", 2) → 风险第3条."""
    out: list[str] = []
    for i, part in enumerate(path):
        if isinstance(part, int):
            continue
        word = _FIELD_WORDS.get(part, part)
        after = path[i + 1] if i + 1 < len(path) else None
        index = after if isinstance(after, int) else None
        if index is None:
            out.append(word)
        elif word in ("组", "节", "条", "段", "个问题"):
            out.append(f"第{index + 1}{word}")
        else:
            out.append(f"{word}第{index + 1}条")
    return "".join(out) or "回答"


def points_of(value: BaseModel) -> list[Point]:
    """Every string of a slot answer, depth first in field order (the order a model writes them)."""
    found: list[Point] = []

    def walk(node: object, path: Path, label: bool) -> None:
        if isinstance(node, str):
            found.append(Point(path, node, label))
        elif isinstance(node, dict):
            for key, sub in node.items():
                walk(sub, (*path, key), label or key in LABEL_FIELDS)
        elif isinstance(node, list | tuple):
            for i, sub in enumerate(node):
                walk(sub, (*path, i), label)

    walk(value.model_dump(), (), False)
    return found


def statements(value: BaseModel) -> list[Point]:
    """The points of an answer that state something (not titles or names), without 资料不足."""
    return [p for p in points_of(value) if not p.label and _compact(p.text) and NOTHING not in p.text]


def sentences(text: str) -> list[str]:
    """Sentences of prose, for comparing a bullet with the summary it may have copied from."""
    return [s.strip() for s in _SENTENCE.findall(text) if len(_compact(s)) >= 4]


# ---------------------------------------------------------------------------------------------
# What is wrong with an answer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason to reject an answer. `reason` is one Chinese sentence (quoted back to the model in the
    retry, and recorded); it names points by place, never by their text (which may carry what a source
    injected), except an echo, which is made of the prompt's own words. `drop` lists the points whose
    removal cures it (empty: removal cannot)."""

    kind: str  # echo | describes | duplicate | repeat | cut
    reason: str
    drop: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Wording:
    """What a prompt says about itself, for the echo check: its labels' characters and words (see
    `pipeline.kinds.prompting.Labels`), the JSON example's placeholders (compact), the character pairs of
    its literal text and instruction, and the subject (topic, sub-topic), which is never an echo."""

    chars: frozenset[str]
    words: frozenset[str]
    placeholders: frozenset[str]
    pairs: frozenset[str]
    subject: tuple[str, ...] = ()


def echoes_prompt(text: str, wording: Wording) -> bool:
    """Whether `text` says nothing but the prompt's own wording: a placeholder of its JSON example
    (小标题, 要点, 执行摘要), only label characters and words (bare digits count as nothing:
    1234567890), or mostly the prompt's own character pairs (第一轮检索结果整合后的完整摘要)."""
    compact = _compact(text)
    if not compact:
        return True
    if any(compact in _compact(s) for s in wording.subject if s):
        return False
    if compact in wording.placeholders:
        return True
    chars = _CJK.findall(text)
    others = re.findall(r"[^\W_\u3400-\u9fff]+", _plain(text).lower())
    if all(c in wording.chars for c in chars) and all(w.isdigit() or w in wording.words for w in others):
        return True
    grams = bigrams(text)
    return len(grams) >= 3 and not numbers(text) and len(grams & wording.pairs) / len(grams) >= ECHO_SHARE


def has_figure(text: str) -> bool:
    """Whether `text` states a quantity (the facts room's reading: 1091亿美元, 18.7%, 三成; not H200)."""
    if not re.search(r"[\d一二三四五六七八九十百千万亿两半]", text):
        return False
    from pipeline.facts.extract import extract_claims

    return bool(extract_claims(_CITE.sub("", text)))


def describes_article(text: str) -> bool:
    """Whether prose narrates its source instead of stating what the source says: at least half of its
    sentences are of the kind "本文首先介绍了…", "接着，文章分析了…", "最后总结了…" without a figure."""
    parts = sentences(text) or [text]
    meta = [s for s in parts if _META.search(s) and not has_figure(s)]
    return bool(meta) and 2 * len(meta) >= len(parts)


def _short(text: str, n: int = 24) -> str:
    text = " ".join(_CITE.sub("", text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _removal(path: Path) -> tuple[Path, ...]:
    """How a bad point can be removed: a list item is deleted, a group goes with its placeholder title,
    an optional field reads 资料不足; anything else cannot be removed (empty)."""
    if not path:
        return ()
    if isinstance(path[-1], int) or path[-1] in _FILLABLE:
        return (path,)
    if path[-1] == "title" and len(path) >= 2 and isinstance(path[-2], int):
        return (path[:-1],)
    return ()


def problems(value: BaseModel, wording: Wording | None) -> list[Problem]:
    """What is wrong with one answer on its own: echoes, narration of the article, near-duplicates."""
    found: list[Problem] = []
    points = points_of(value)
    for p in points:
        if NOTHING in p.text or not _compact(p.text):  # an empty optional field: the template says 资料不足
            continue
        droppable = _removal(p.path)
        if wording is None:
            echo = False
        elif p.label:  # a title or a name may well be short and use the prompt's words: only a placeholder is an echo
            echo = _compact(p.text) in wording.placeholders
        else:
            echo = echoes_prompt(p.text, wording)
        if echo:
            # an echo is made of the prompt's own words only: quoting it back cannot carry anything else
            found.append(Problem("echo", f"{p.where}「{_short(p.text)}」只是照抄了提示里的字段名、标签或示例，不是内容", droppable))
        elif not p.label and describes_article(p.text):
            found.append(Problem("describes", f"{p.where}在描述文章（本文介绍了…），没有陈述资料中的事实和数字", droppable))
    said = [p for p in points if not p.label and _compact(p.text) and NOTHING not in p.text]
    for i, p in enumerate(said):
        for q in said[:i]:
            if near_duplicate(p.text, q.text):
                droppable = _removal(p.path)
                found.append(Problem("duplicate", f"{p.where}与{q.where}几乎相同", droppable))
                break
    return found


@dataclass(frozen=True)
class Seen:
    """A statement already in the report: where (in words) and what."""

    where: str
    text: str


#: Fields holding prose (paragraphs rather than points): later slots are compared with its sentences.
PROSE = frozenset({"summary", "text", "paragraphs", "closing"})


def seen_in(value: BaseModel | None, label: str) -> list[Seen]:
    """The statements of a filled slot, as later slots must not repeat them: each point whole, prose
    (`PROSE` fields) sentence by sentence."""
    if value is None:
        return []
    out: list[Seen] = []
    for p in statements(value):
        prose = any(part in PROSE for part in p.path if isinstance(part, str))
        parts = sentences(p.text) if prose else []
        out.extend(Seen(f"{label}（{p.where}）", s) for s in parts or [p.text])
    return out


def repeats(value: BaseModel, seen: Iterable[Seen]) -> list[Problem]:
    """Points of `value` that repeat a statement made earlier in the report."""
    earlier = list(seen)
    found = []
    for p in statements(value):
        hit = next((s for s in earlier if near_duplicate(p.text, s.text)), None)
        if hit is not None:
            droppable = _removal(p.path)
            found.append(Problem("repeat", f"{p.where}重复了{hit.where}的内容", droppable))
    return found


# ---------------------------------------------------------------------------------------------
# Repairs that need no model
# ---------------------------------------------------------------------------------------------


def _tidy_text(text: str) -> str:
    text = clean_marks(text.replace("\r\n", "\n"))
    text = _BLANK_LINES.sub("\n\n", text)
    text = _LINE_SPACE.sub("\n", text)
    return unrepeated(_RUN.sub(" ", text).strip())


def unrepeated(text: str) -> str:
    """`text` without the sentences that say again what an earlier sentence of it said (a small model
    writes its one summary sentence three times): the first saying is kept, nothing new is lost."""
    parts = _SENTENCE.findall(text)
    if len(parts) < 2:
        return text
    kept: list[str] = []
    for part in parts:
        if len(_compact(part)) >= REPEAT_MIN_CHARS and any(near_duplicate(part, k) for k in kept):
            continue
        kept.append(part)
    return "".join(kept).strip() if len(kept) < len(parts) else text


REPEAT_MIN_CHARS = 8  # a shorter sentence ("是的。") may well stand twice


def _rebuild(value: M, data: object) -> M | None:
    try:
        return type(value).model_validate(data)
    except ValidationError:
        return None


def _child(node: object, part: str | int) -> object:
    """`node[part]` in a slot's JSON: KeyError, IndexError or TypeError as subscripting raises them."""
    if isinstance(node, dict):
        return node[part]
    if isinstance(node, list) and isinstance(part, int):
        return node[part]
    raise TypeError(f"no item {part!r} in a {type(node).__name__}")


def _map(node: object, fn: Callable[[str], str]) -> object:
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, dict):
        return {k: _map(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_map(v, fn) for v in node]
    return node


def tidy(value: M) -> M:
    """Whitespace runs collapsed (a model cut at its token limit often pads with spaces), blank lines
    kept as paragraph breaks, broken citation marks removed. Unchanged when the result would not
    validate (a string emptied below its minimum length: the checks then see the original)."""
    return _rebuild(value, _map(value.model_dump(), _tidy_text)) or value


def trim_cut(value: M) -> M | None:
    """An answer whose reply was cut at the token limit, with the string being written when it was cut
    (the last non-empty one, in the order the model writes fields) trimmed at its last sentence end, or
    dropped when it is a list item with no complete sentence. None when what is left does not validate."""
    data = value.model_dump()
    cut = next((p for p in reversed(points_of(value)) if p.text.strip()), None)
    if cut is None or cut.label:  # a title or a name is no sentence: nothing to trim it to
        return value
    text = cut.text.rstrip()
    ends = list(_SENTENCE_END.finditer(text))
    kept = text[: ends[-1].end()] if ends else ""
    if ends and ends[-1].end() == len(text):
        return value
    parent: object = data
    for part in cut.path[:-1]:
        parent = parent[part]  # type: ignore[index]
    last = cut.path[-1]
    if kept.strip():
        parent[last] = kept  # type: ignore[index]
    elif isinstance(last, int) and isinstance(parent, list):
        del parent[last]
    else:
        return None
    return _rebuild(value, _prune(data))


#: Lists whose emptied state means the slot (or its group) has nothing: they are not refilled.
_CONTAINERS = frozenset({"points", "groups", "sections", "metrics", "paragraphs", "titles"})


def _prune(node: object) -> object:
    """Drop groups and sections left without points (their schema wants at least one)."""
    if isinstance(node, dict):
        return {k: _prune(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_prune(v) for v in node if not (isinstance(v, dict) and v.get("points") == [])]
    return node


def drop_points(value: M, paths: Iterable[Path]) -> M | None:
    """`value` without the points at `paths` (see `_removal`: list items deleted, optional fields set to
    资料不足, groups left empty dropped, a list of its own left empty (近期展望, 优势) set to [资料不足]);
    None when a path cannot be removed or what is left does not validate (no group left)."""
    data = value.model_dump()
    targets = sorted(set(paths), key=lambda p: [str(x) if isinstance(x, str) else f"{x:09d}" for x in p], reverse=True)
    for path in targets:
        if not path or not (isinstance(path[-1], int) or path[-1] in _FILLABLE):
            return None
        parent: object = data
        last = path[-1]
        try:
            for part in path[:-1]:
                parent = _child(parent, part)
            if isinstance(last, int):
                if not isinstance(parent, list | dict):
                    raise TypeError(f"no item {last} in a {type(parent).__name__}")
                del parent[last]
                key = path[-2] if len(path) >= 2 else ""
                if not parent and isinstance(key, str) and key not in _CONTAINERS and isinstance(parent, list):
                    parent.append(NOTHING)  # 近期展望, 优势 …: say so, keep the slot
            elif isinstance(parent, dict):
                parent[last] = NOTHING
            else:
                raise TypeError(f"no field {last} in a {type(parent).__name__}")
        except (KeyError, IndexError, TypeError):
            continue  # inside a group already removed
    return _rebuild(value, _prune(data))
