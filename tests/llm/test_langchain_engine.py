"""The LangChain engine on LangChain's own fake chat model (tests/fake_langchain.py): structured output
by tool calling and by the prompt, repair, retry, degrade, usage, options, transport faults, set-up
errors. The whole pipeline through it is tests/pipeline/test_langchain_run.py."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain")

from fake_langchain import SCHEMA_MARKER, ScriptedChatModel  # noqa: E402
from langchain_core.messages import AIMessage  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

from pipeline.llm.base import LLMError, Options, Task  # noqa: E402
from pipeline.llm.langchain_engine import (  # noqa: E402
    EXTRA,
    EngineSetupError,
    LangChainLLM,
    make_langchain_llm,
    option_kwargs,
    reply_text,
)
from pipeline.models import TaskContext  # noqa: E402


class Finding(BaseModel):
    title: str = Field(min_length=2, max_length=30)
    detail: str = Field(min_length=5)


class Findings(BaseModel):
    """A nested slot: its schema has a $ref, which the engine inlines."""

    findings: list[Finding] = Field(min_length=1, max_length=3)


def task(schema: type[BaseModel] = Findings) -> Task:
    messages = [
        {"role": "system", "content": "你是一名严谨的中文研究分析师。"},
        {"role": "user", "content": "根据资料写出关键发现。输出 JSON：{\"findings\": [...]}"},
    ]
    return Task(step="analysis[1].findings", kind="analysis.findings", schema=schema, messages=messages,
                context=TaskContext(topic="人工智能"))


GOOD = json.dumps({"findings": [{"title": "算力投资", "detail": "云厂商加大资本开支，数据中心建设明显提速。"}]}, ensure_ascii=False)


def engine(tools: bool, **kw) -> tuple[LangChainLLM, ScriptedChatModel]:
    made: list[ScriptedChatModel] = []

    def factory(spec: str, **kwargs: object) -> ScriptedChatModel:
        made.append(ScriptedChatModel(tools=tools, **kwargs))
        return made[-1]

    llm = make_langchain_llm("fake:model", Options(**kw.pop("options", {})), factory=factory, **kw)
    llm.backoff_s = 0.0
    return llm, made[-1]


@pytest.mark.parametrize("tools", [True, False], ids=["tool-calling", "prompt"])
def test_a_slot_is_filled_with_usage_counted(tools):
    llm, fake = engine(tools)
    done = llm.complete(task())
    assert isinstance(done.value, Findings) and done.value.findings
    assert done.requests == 1 and not done.repaired and done.degraded is None
    (req,) = fake.requests
    in_prompt = SCHEMA_MARKER in req["messages"][-1]["content"]
    if tools:  # the schema travels as the tool's parameters, inlined (no $ref), not in the prompt
        assert not in_prompt and req["tools"][0]["function"]["name"] == "Findings"
        assert "$ref" not in json.dumps(req["tools"][0]) and "$defs" not in json.dumps(req["tools"][0])
    else:  # no tool calling: the schema is written after the prompt's own last user message
        assert in_prompt and req["messages"][-1]["content"].startswith("根据资料写出关键发现")
        assert not req["tools"]
    # tokens are the reply's usage_metadata, as the fake reported them
    reply = json.dumps(done.value.model_dump(), ensure_ascii=False)
    assert done.prompt_tokens > 0 and done.completion_tokens > 0
    assert done.completion_tokens >= len(reply) // 4


@pytest.mark.parametrize("tools", [True, False], ids=["tool-calling", "prompt"])
def test_truncated_json_is_repaired_without_a_second_request(tools):
    llm, fake = engine(tools)
    fake.script(GOOD[:-3])  # cut inside the closing brackets, as a reply that hit the token limit
    done = llm.complete(task())
    assert done.value is not None and done.value.findings[0].title == "算力投资"
    assert done.repaired and done.requests == 1


@pytest.mark.parametrize("tools", [True, False], ids=["tool-calling", "prompt"])
def test_invalid_answer_is_retried_once_with_the_error_quoted(tools):
    llm, fake = engine(tools)
    fake.script("这不是JSON", GOOD)
    done = llm.complete(task())
    assert done.value is not None and done.repaired and done.requests == 2
    second = fake.requests[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "这不是JSON"}
    assert second[-1]["content"].startswith("你上一次的回答无效：不是有效的JSON")


def test_english_then_garbage_degrades_the_slot_and_says_why():
    llm, fake = engine(True)
    english = json.dumps({"findings": [{"title": "Compute", "detail": "Cloud capex keeps rising fast."}]})
    fake.script(english, "{")
    done = llm.complete(task())
    assert done.value is None and done.requests == 2
    assert done.degraded.startswith("invalid output after repair and retry")
    assert done.invalid
    assert "回答不是中文" in fake.requests[1]["messages"][-1]["content"]  # the first error was quoted back


def test_schema_violation_is_named_in_the_retry():
    llm, fake = engine(False)
    fake.script(json.dumps({"findings": []}))
    done = llm.complete(task())
    assert done.value is not None and done.requests == 2
    assert "findings" in fake.requests[1]["messages"][-1]["content"]


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"server says {status}")
        self.status_code = status


def test_transport_faults_are_retried_with_every_request_counted():
    llm, fake = engine(True, max_retries=2)
    fake.script(ConnectionError("Connection refused"), Refused(503), GOOD)
    done = llm.complete(task())
    assert done.value is not None and done.requests == 3 and len(fake.requests) == 3


def test_rate_limit_is_retried_and_exhaustion_is_one_line():
    llm, fake = engine(True, max_retries=1)
    fake.script(Refused(429), Refused(429))
    with pytest.raises(LLMError) as info:
        llm.complete(task())
    msg = str(info.value)
    assert "\n" not in msg and "failed after 2 attempts" in msg and "HTTP 429" in msg
    assert len(fake.requests) == 2


@pytest.mark.parametrize(("status", "words"), [(401, "authentication failed"), (404, "not found"), (400, "HTTP 400")])
def test_client_errors_stop_at_once(status, words):
    llm, fake = engine(True, max_retries=3)
    fake.script(Refused(status))
    with pytest.raises(LLMError) as info:
        llm.complete(task())
    assert words in str(info.value) and "fake:model" in str(info.value)
    assert len(fake.requests) == 1


def test_options_reach_the_model_under_its_own_field_names():
    opts = {"temperature": 0.7, "seed": 9, "num_predict": 777, "timeout_s": 12.0}
    llm, fake = engine(True, options=opts)
    assert (fake.temperature, fake.seed, fake.max_tokens, fake.timeout) == (0.7, 9, 777, 12.0)
    assert fake.max_retries == 0  # the engine retries itself, so every request is counted
    assert llm.unsupported == []
    assert llm.cache_identity()["options"] == {"num_ctx": 8192, "num_predict": 777, "temperature": 0.7, "seed": 9}


class _Info:
    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias


def test_option_names_follow_the_provider_class():
    opts = Options(num_ctx=4096, num_predict=500, temperature=0.1, seed=3, timeout_s=30)
    # ChatOpenAI-like: aliases; ChatOllama-like: num_predict, num_ctx and the httpx client's timeout
    openai_like = {"temperature": _Info(), "seed": _Info(), "max_tokens": _Info("max_completion_tokens"),
                   "request_timeout": _Info("timeout"), "max_retries": _Info()}
    kwargs, missing = option_kwargs(openai_like, opts)
    assert kwargs == {"temperature": 0.1, "seed": 3, "max_completion_tokens": 500, "timeout": 30, "max_retries": 0}
    assert missing == []
    ollama_like = {"temperature": _Info(), "seed": _Info(), "num_predict": _Info(), "num_ctx": _Info(),
                   "client_kwargs": _Info(), "base_url": _Info()}
    kwargs, missing = option_kwargs(ollama_like, opts, provider="ollama", ollama_host="http://h:1")
    assert kwargs == {"temperature": 0.1, "seed": 3, "num_predict": 500, "num_ctx": 4096,
                      "client_kwargs": {"timeout": 30}, "base_url": "http://h:1"}
    # A class without a seed: it is left out and named, not sent to an API that may reject it
    kwargs, missing = option_kwargs({"temperature": _Info(), "max_tokens": _Info()}, opts)
    assert kwargs == {"temperature": 0.1, "max_tokens": 500} and missing == ["seed", "timeout"]


def test_reply_text_reads_tool_calls_blocks_and_drops_think():
    assert reply_text(AIMessage(content="", tool_calls=[{"name": "F", "args": {"a": "甲"}, "id": "1"}])) == '{"a": "甲"}'
    assert reply_text(AIMessage(content=[{"type": "text", "text": '{"a":'}, {"type": "text", "text": '"乙"}'}])) == '{"a":"乙"}'
    assert reply_text(AIMessage(content='<think>先想一想</think>\n{"a": "丙"}')) == '{"a": "丙"}'


def test_a_cut_reply_is_noted():
    llm, fake = engine(True)
    usage = {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150, "input_token_details": {"cache_read": 100}}
    fake.script(AIMessage(content="", tool_calls=[{"name": "Findings", "args": json.loads(GOOD), "id": "1"}],
                          response_metadata={"finish_reason": "length"}, usage_metadata=usage))
    done = llm.complete(task())
    assert done.value is not None and any("token limit" in n for n in done.notes)
    assert done.truncated  # so `ask` trims it at a sentence end, as for every engine (pipeline/kinds/slotcheck.py)
    assert (done.prompt_tokens, done.prompt_eval_tokens) == (120, 20)  # a reused prefix is not evaluated


def test_an_explicit_method_the_model_lacks_is_one_line():
    llm, _ = engine(False, method="function_calling")
    with pytest.raises(LLMError) as info:
        llm.complete(task())
    assert "langchain_method" in str(info.value) and "\n" not in str(info.value)


def test_set_up_errors_are_one_line_with_the_fix(monkeypatch):
    with pytest.raises(EngineSetupError, match="langchain_model = \"provider:model\""):
        make_langchain_llm("", Options())
    with pytest.raises(EngineSetupError) as info:
        make_langchain_llm("nosuchprovider:some-model", Options())
    assert "provider:model" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(EngineSetupError, match="langchain_method"):
        make_langchain_llm("fake:x", Options(), method="xml", factory=lambda spec, **kw: ScriptedChatModel())
    # the provider's integration package is missing: LangChain names it, so do we
    monkeypatch.setitem(sys.modules, "langchain_anthropic", None)
    with pytest.raises(EngineSetupError) as info:
        make_langchain_llm("anthropic:claude-sonnet-4-5", Options())
    assert "pip install langchain-anthropic" in str(info.value) and "\n" not in str(info.value)


def test_missing_extra_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain", None)
    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)
    with pytest.raises(EngineSetupError) as info:
        make_langchain_llm("openai:gpt-4o-mini", Options())
    assert str(info.value).endswith(EXTRA) and "\n" not in str(info.value)
