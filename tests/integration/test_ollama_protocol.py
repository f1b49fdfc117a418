"""OllamaLLM against a REAL Ollama (../shared/tools/ollama-cpu: gemma3-270m, a tiny base model).

These prove the protocol, not the quality: the model does not follow instructions, so a slot may well
come back degraded. What must hold is that requests are well-formed, the JSON-schema `format` (nested,
with or without `$defs`) constrains the output to parseable JSON, options are honoured, and errors map
to the right `LLMError`. Small num_ctx / num_predict keep the file around a minute on a CPU.
"""

from __future__ import annotations

import json

import json_repair
import ollama
import pytest

from pipeline.kinds.research.slots import Findings, Plan
from pipeline.llm.base import LLMError, Options, Task
from pipeline.llm.ollama import OllamaLLM
from pipeline.llm.validate import json_schema_for
from pipeline.models import TaskContext

pytestmark = pytest.mark.integration

OPTS = Options(num_ctx=1024, num_predict=64, temperature=0.0, seed=11, timeout_s=120)
SYSTEM = "你是研究助理。只输出JSON，所有内容用简体中文。"


def task(
    schema=Plan, content: str = "请把主题“人工智能算力”拆分为三个子主题。", step: str = "it.plan"
) -> Task:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]
    return Task(
        step=step, kind="plan", schema=schema, messages=messages, context=TaskContext(topic="人工智能算力")
    )


def raw_chat(
    host: str, model: str, fmt: dict, *, num_predict: int = 64, stream: bool = False
) -> tuple[str, dict]:
    """One chat through the official client; returns (content, final chunk as dict)."""
    client = ollama.Client(host=host, timeout=120)
    opts = OPTS.ollama() | {"num_predict": num_predict}
    messages = task().messages
    if not stream:
        reply = client.chat(model=model, messages=messages, format=fmt, options=opts, stream=False)
        return reply.message.content or "", reply.model_dump()
    pieces, final = [], {}
    for chunk in client.chat(model=model, messages=messages, format=fmt, options=opts, stream=True):
        pieces.append(chunk.message.content or "")
        if chunk.done:
            final = chunk.model_dump()
    return "".join(pieces), final


def assert_json_object(content: str, final: dict) -> dict:
    """A finished reply must be strict JSON; one cut by num_predict must at least repair to an object."""
    assert content.lstrip().startswith("{"), content  # the grammar forces the object's start
    data = json.loads(content) if final["done_reason"] == "stop" else json_repair.loads(content)
    assert isinstance(data, dict), content
    return data


def test_chat_non_streaming(real_ollama):
    host, model = real_ollama
    result = OllamaLLM(host, model, OPTS, backoff_s=0.1).complete(task())
    assert result.requests in (1, 2)
    assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= result.requests * OPTS.num_predict
    assert (result.value is None) == (result.degraded is not None)
    assert result.raw.lstrip().startswith("{")


def test_chat_streaming(real_ollama):
    host, model = real_ollama
    result = OllamaLLM(host, model, OPTS, stream=True, backoff_s=0.1).complete(task())
    assert result.requests in (1, 2)
    assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= result.requests * OPTS.num_predict
    assert result.raw.lstrip().startswith("{")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_format_plan_yields_json(real_ollama, stream):
    host, model = real_ollama
    content, final = raw_chat(*real_ollama, json_schema_for(Plan), stream=stream)
    data = assert_json_object(content, final)
    if final["done_reason"] == "stop":
        assert set(data) == {"subtopics"} and isinstance(data["subtopics"], list)


@pytest.mark.parametrize("inline", [True, False], ids=["inlined", "with-$defs"])
def test_format_nested_findings_yields_json(real_ollama, inline):
    fmt = json_schema_for(Findings) if inline else Findings.model_json_schema()
    content, final = raw_chat(*real_ollama, fmt, num_predict=64)
    data = assert_json_object(content, final)
    if final["done_reason"] == "stop":
        assert isinstance(data["groups"], list) and data["groups"]
        assert {"title", "points"} <= set(data["groups"][0])  # the nested object was reached


def test_num_predict_is_honoured(real_ollama):
    content, final = raw_chat(*real_ollama, json_schema_for(Findings), num_predict=8)
    assert final["eval_count"] <= 8
    assert final["done_reason"] == "length"


def test_same_seed_temperature_zero_is_deterministic(real_ollama):
    host, model = real_ollama
    llm = OllamaLLM(host, model, OPTS, backoff_s=0.1)
    a = llm.complete(task(Findings))
    b = llm.complete(task(Findings))
    assert a.raw == b.raw
    assert a.completion_tokens == b.completion_tokens


def test_unknown_model_raises_with_pull_hint(real_ollama):
    host, _ = real_ollama
    llm = OllamaLLM(host, "no-such-model:1b", OPTS, backoff_s=0.1)
    with pytest.raises(
        LLMError,
        match=r"^it\.plan: model 'no-such-model:1b' is not available at .*ollama pull no-such-model:1b$",
    ):
        llm.complete(task())
    with pytest.raises(LLMError, match="ollama pull no-such-model:1b"):
        llm.check_model()


def test_check_model_ok(real_ollama):
    host, model = real_ollama
    OllamaLLM(host, model, OPTS).check_model()
    OllamaLLM(host, f"{model}:latest" if ":" not in model else model, OPTS).check_model()
