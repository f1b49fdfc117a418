"""Turning a slot model into Ollama's `format`, and a model's raw reply back into a slot value.

Pure functions, no I/O: the Ollama engine uses them, and so can any other engine that receives JSON.

Why the schema is rewritten: Ollama converts `format` into a llama.cpp grammar. Older converters do not
resolve `$ref` at all and newer ones only the local `#/$defs/...` form, so inlining makes the schema
portable across server versions. `title` keys (pydantic adds one per model and per field) and our own
`cues` extension (read by the extractive engine from the pydantic model, not from this dict) carry no
constraint, so they are dropped to keep the request, and any prompt that quotes the schema, small.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.models import JSONValue
from pipeline.text import cjk_ratio

T = TypeVar("T", bound=BaseModel)

# Keys whose value maps *names* to sub-schemas: a property called "title" must survive the clean-up.
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
# Keys dropped from every schema object: no constraint, only size.
_DROP = frozenset({"title", "cues"})


def json_schema_for(model: type[BaseModel]) -> dict[str, JSONValue]:
    """The JSON schema of `model` with every `$ref` inlined and no `$defs`, `title` or `cues` keys.

    Raises ValueError for recursive models: a grammar cannot be built from an infinite inline schema,
    and no slot model needs recursion.
    """
    schema: dict[str, JSONValue] = model.model_json_schema()
    defs: dict[str, JSONValue] = {}
    for key in ("$defs", "definitions"):
        found = schema.pop(key, None)
        if isinstance(found, dict):
            defs.update(found)

    def resolve(ref: str, stack: tuple[str, ...]) -> dict[str, JSONValue]:
        if not ref.startswith("#/"):
            raise ValueError(f"unsupported $ref {ref!r} in schema of {model.__name__}")
        name = ref.rsplit("/", 1)[-1]
        if name in stack:
            raise ValueError(f"recursive schema {' -> '.join((*stack, name))} cannot be inlined")
        target = defs.get(name)
        if not isinstance(target, dict):
            raise ValueError(f"unknown $ref {ref!r} in schema of {model.__name__}")
        return clean_object(target, (*stack, name))

    def clean(node: JSONValue, stack: tuple[str, ...]) -> JSONValue:
        if isinstance(node, list):
            return [clean(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        return clean_object(node, stack)

    def clean_object(node: dict[str, JSONValue], stack: tuple[str, ...]) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {}
        if "$ref" in node:
            out.update(resolve(str(node["$ref"]), stack))
        for key, value in node.items():
            if key == "$ref" or key in _DROP or key in ("$defs", "definitions"):
                continue
            if key in _NAME_MAPS and isinstance(value, dict):
                out[key] = {name: clean(sub, stack) for name, sub in value.items()}
            else:
                out[key] = clean(value, stack)
        return out

    return clean_object(schema, ())


def _strings(value: object) -> list[str]:
    """Every string value inside a dumped model, depth first (keys are not content)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _validation_error(err: ValidationError) -> str:
    first = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(根对象)"
    return _one_line(f"{loc}: {first.get('msg', 'invalid')}")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validate(data: object, schema: type[T]) -> tuple[T | None, str | None]:
    if not isinstance(data, dict):
        kind = "空" if data in ("", None) else type(data).__name__
        return None, f"回答不是JSON对象 (得到 {kind})"
    try:
        return schema.model_validate(data), None
    except ValidationError as err:
        return None, _validation_error(err)


def parse_reply(raw: str, schema: type[T], *, min_cjk: float = 0.3) -> tuple[T | None, bool, str | None]:
    """Parse and validate a model's reply: `(value, repaired, error)`.

    Exactly one of `value` / `error` is set. `repaired` is True when the value only came out after
    `json_repair` fixed the text (truncated output, code fences, trailing commas ...). `error` is short,
    one line and human readable, so that it can be quoted back to the model in a retry.

    The Chinese check runs on the concatenated string values: a grammar guarantees the JSON shape but not
    the language, and small models drift into English. Set `min_cjk=0` to disable it.
    """
    if not raw or not raw.strip():
        return None, False, "回答为空"
    value: T | None = None
    repaired = False
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        import json_repair  # lazy: only needed on the bad path

        try:
            data = json_repair.loads(raw)
        except Exception as rerr:  # json_repair is lenient, but never let it crash the engine
            return None, False, _one_line(f"不是有效的JSON: {err.msg} (第{err.pos}个字符); 修复失败: {rerr}")
        value, error = _validate(data, schema)
        if value is None:
            return None, False, _one_line(f"不是有效的JSON: {err.msg} (第{err.pos}个字符); 修复后: {error}")
        repaired = True
    else:
        value, error = _validate(data, schema)
        if value is None:
            return None, False, error

    if min_cjk > 0:
        strings = _strings(value.model_dump())
        if strings:
            ratio = cjk_ratio("".join(strings))
            if ratio < min_cjk:
                return None, repaired, f"回答不是中文 (cjk ratio {ratio:.2f})"
    return value, repaired, None


# What `parse_reply` errors (and the content checks' reasons, pipeline.kinds.slotcheck) mean, in plain words,
# for the one line of a run whose model failed. Checked in order against the error text; anything else
# failed the slot's schema.
_FAILURE_KINDS = (
    ("回答不是中文", "not Chinese"),
    ("回答为空", "empty"),
    ("不是有效的JSON", "invalid JSON"),
    ("回答不是JSON对象", "not a JSON object"),
    ("照抄了提示", "echoing the prompt"),
    ("在描述文章", "describing the article, not its facts"),
    ("几乎相同", "repeating itself"),
    ("重复了", "repeating other sections"),
    ("被截断", "cut at the token limit"),
)


def failure_kind(error: str) -> str:
    """`parse_reply`'s error (or a content check's reason) → a short English phrase: not Chinese, empty,
    invalid JSON, not a JSON object, echoing the prompt, ..., or not matching the schema (a field
    missing, too long, of the wrong type ...)."""
    for marker, words in _FAILURE_KINDS:
        if marker in (error or ""):
            return words
    return "not matching the schema"
