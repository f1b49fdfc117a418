"""OpenAICompatLLM against the fake OpenAI-compatible server over real HTTP: request shape, structured
output and its json_object fallback, repair and retry, length cuts, usage, transport faults, 401/404/429,
budget."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from fake_openai import CutStream, Drop, FakeOpenAI, Garbage, Length, RateLimit, Reply, Sleep, Status

from pipeline.kinds.research.slots import Findings, Plan
from pipeline.llm.base import LLMError, Options, Task
from pipeline.llm.budget import estimate_tokens, prompt_budget
from pipeline.llm.openai_compat import SCHEMA_NOTE, OpenAICompatLLM, normalize_base_url
from pipeline.llm.validate import json_schema_for
from pipeline.models import TaskContext

MODEL = "qwen2.5-7b-instruct"
KEY = "sk-test-0123456789abcdefPLANTED"
ROOT = Path(__file__).resolve().parents[2]


def make_llm(fake: FakeOpenAI, *, options: Options | None = None, key: str | None = None, **kw) -> OpenAICompatLLM:
    kw.setdefault("backoff_s", 0.01)
    env = {kw.pop("api_key_env", "OPENAI_API_KEY"): key} if key else {}
    return OpenAICompatLLM(
        fake.base_url, kw.pop("model", MODEL), options or Options(timeout_s=5), environ=env,
        api_key_env=next(iter(env), "OPENAI_API_KEY"), **kw,
    )


def task(schema=Plan, content: str = "请把主题拆分为子主题：人工智能算力。", step: str = "plan", system: str | None = None):
    messages = [{"role": "system", "content": system or "你是研究助理。只输出JSON，用中文。"}]
    messages.append({"role": "user", "content": content})
    return Task(step=step, kind="plan", schema=schema, messages=messages, context=TaskContext(topic="人工智能算力"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The engine's waits between attempts, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr("pipeline.llm.openai_compat.time.sleep", waited.append)
    return waited


# ---------------------------------------------------------------------------------------------
# Request shape
# ---------------------------------------------------------------------------------------------


def test_every_request_carries_limits_sampling_schema_and_the_key(fake_openai):
    opts = Options(num_ctx=4096, num_predict=512, temperature=0.0, seed=7, timeout_s=5)
    result = make_llm(fake_openai, options=opts, key=KEY).complete(task(Findings))
    assert result.value is not None and result.degraded is None
    [req] = fake_openai.requests
    assert req["model"] == MODEL
    assert (req["max_tokens"], req["temperature"], req["seed"], req["stream"]) == (512, 0.0, 7, False)
    assert "stream_options" not in req and "num_ctx" not in json.dumps(req)
    fmt = req["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Findings" and fmt["json_schema"]["schema"] == json_schema_for(Findings)
    assert req["messages"] == task(Findings).messages  # json_schema mode: the prompt is left alone
    assert fake_openai.auth_headers == [f"Bearer {KEY}"]


def test_no_key_no_authorization_header(fake_openai):
    assert make_llm(fake_openai).complete(task()).value is not None
    assert fake_openai.auth_headers == [None]


def test_non_streaming_completion_counts_tokens_from_usage(fake_openai):
    result = make_llm(fake_openai).complete(task(Findings))
    assert isinstance(result.value, Findings)
    assert result.requests == 1 and result.repaired is False and result.truncated is False
    assert json.loads(result.raw) == result.value.model_dump()
    assert result.prompt_tokens == sum(len(m["content"]) for m in task(Findings).messages)  # the fake's usage
    assert result.completion_tokens == len(result.raw)
    assert result.seconds > 0 and result.notes == []


def test_streaming_completion_asks_for_usage_and_agrees_with_non_streaming(fake_openai):
    fake_openai.chunk_chars = 3
    streamed = make_llm(fake_openai, stream=True).complete(task(Findings))
    req = fake_openai.requests[0]
    assert req["stream"] is True and req["stream_options"] == {"include_usage": True}
    assert streamed.requests == 1 and streamed.completion_tokens == len(streamed.raw)
    assert streamed.prompt_tokens == sum(len(m["content"]) for m in task(Findings).messages)
    plain = make_llm(fake_openai).complete(task(Findings))
    assert plain.value == streamed.value and plain.raw == streamed.raw


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_without_usage_gets_estimates_and_a_note(fake_openai, stream):
    fake_openai.usage = False
    result = make_llm(fake_openai, stream=stream).complete(task())
    assert result.value is not None
    assert result.prompt_tokens == sum(estimate_tokens(m["content"]) for m in task().messages)
    assert result.completion_tokens == estimate_tokens(result.raw)
    assert result.notes == ["server sent no usage; tokens estimated"]


def test_cache_identity_names_the_server_not_the_key(fake_openai):
    opts = Options(num_predict=128, temperature=0.1, seed=3)
    llm = make_llm(fake_openai, options=opts, key=KEY, context_tokens=4096)
    ident = llm.cache_identity()
    assert ident == {
        "provider": "openai", "base_url": fake_openai.base_url, "model": MODEL,
        "options": {"max_tokens": 128, "temperature": 0.1, "seed": 3, "context_tokens": 4096}, "format_version": 1,
    }
    assert KEY not in json.dumps(ident) and KEY not in repr(llm)
    assert llm.provider == "openai"


def test_base_url_is_normalized_without_credentials():
    assert normalize_base_url("127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("https://user:sk-x@api.example.com/v1?key=sk-x#f") == "https://api.example.com/v1"
    assert normalize_base_url("http://[::1]:8080/v1") == "http://[::1]:8080/v1"


# ---------------------------------------------------------------------------------------------
# json_schema, then json_object
# ---------------------------------------------------------------------------------------------


def test_json_schema_rejected_falls_back_to_json_object_once_per_run(fake_openai):
    fake_openai.json_schema = False
    llm = make_llm(fake_openai)
    first = llm.complete(task(Findings))
    assert first.value is not None and first.requests == 2 and first.degraded is None
    rejected, accepted = fake_openai.requests
    assert rejected["response_format"]["type"] == "json_schema"
    assert accepted["response_format"] == {"type": "json_object"}
    note = SCHEMA_NOTE.format(schema=json.dumps(json_schema_for(Findings), ensure_ascii=False, separators=(",", ":")))
    assert accepted["messages"][:-1] == task(Findings).messages[:-1]
    assert accepted["messages"][-1]["content"] == task(Findings).messages[-1]["content"] + note
    assert len(first.notes) == 1 and "rejected response_format json_schema" in first.notes[0]
    assert "unavailable" in first.notes[0]

    second = llm.complete(task(Plan))  # remembered: straight to json_object, no note
    assert second.value is not None and second.requests == 1 and second.notes == []
    assert fake_openai.requests[2]["response_format"] == {"type": "json_object"}

    fresh = make_llm(fake_openai)  # another run (engine) asks json_schema first again
    assert fresh.complete(task()).requests == 2


def test_a_400_that_json_object_does_not_cure_is_one_line(fake_openai):
    fake_openai.script(Status(400, "messages too long"), Status(400, "messages still too long"))
    with pytest.raises(LLMError) as info:
        make_llm(fake_openai).complete(task())
    assert str(info.value) == (
        f"plan: {fake_openai.base_url} rejected the request: HTTP 400: messages still too long "
        "(with json_schema: HTTP 400: messages too long)"
    )
    assert len(fake_openai.requests) == 2
    # the json_schema rejection was not about the format: the next task still tries json_schema
    make_llm(fake_openai).complete(task())
    assert fake_openai.requests[2]["response_format"]["type"] == "json_schema"


def test_json_object_mode_keeps_the_schema_when_the_prompt_is_clipped(fake_openai):
    fake_openai.json_schema = False
    opts = Options(num_predict=256, timeout_s=5)
    long_text = "算力需求持续增长，推理成为新的重点。" * 200
    result = make_llm(fake_openai, options=opts, context_tokens=1500).complete(task(content=long_text))
    assert result.value is not None
    sent = fake_openai.requests[-1]
    assert SCHEMA_NOTE.split("{")[0] in sent["messages"][-1]["content"]
    assert sent["messages"][-1]["content"].endswith("}")
    assert sum(estimate_tokens(m["content"]) for m in sent["messages"]) <= prompt_budget(1500, 256)


# ---------------------------------------------------------------------------------------------
# Bad output: repair, retry, degrade; length cuts
# ---------------------------------------------------------------------------------------------


def test_malformed_json_is_repaired_without_retry(fake_openai):
    fake_openai.script(Reply('{"subtopics": ["算力需求与供给", "推理成本下降"'))
    result = make_llm(fake_openai).complete(task())
    assert result.value == Plan(subtopics=["算力需求与供给", "推理成本下降"])
    assert result.repaired is True and result.requests == 1 and result.degraded is None


def test_invalid_output_is_retried_once_with_the_error_quoted(fake_openai):
    bad = '{"subtopics": []}'
    fake_openai.script(Reply(bad))
    result = make_llm(fake_openai).complete(task())
    assert result.value is not None and result.degraded is None and result.requests == 2
    first, second = fake_openai.requests
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assistant, correction = second["messages"][-2:]
    assert assistant == {"role": "assistant", "content": bad}
    assert correction["role"] == "user" and "subtopics" in correction["content"] and "中文" in correction["content"]
    assert second["response_format"] == first["response_format"] and second["max_tokens"] == first["max_tokens"]


def test_invalid_after_repair_and_retry_degrades(fake_openai):
    fake_openai.script(Reply('{"subtopics": []}'), Reply("I cannot help with that."))
    result = make_llm(fake_openai).complete(task())
    assert result.value is None and result.requests == 2
    assert result.degraded is not None and result.degraded.startswith("invalid output after repair and retry: ")
    assert result.invalid is not None and result.raw == "I cannot help with that."


def test_english_answer_is_retried_in_chinese(fake_openai):
    fake_openai.script(Reply('{"subtopics": ["AI compute demand", "Inference cost"]}'))
    result = make_llm(fake_openai).complete(task())
    assert result.value is not None and result.requests == 2
    assert "回答不是中文" in fake_openai.requests[1]["messages"][-1]["content"]


def test_a_length_cut_reply_is_reported_as_truncated(fake_openai):
    fake_openai.script(Length(), Length())
    result = make_llm(fake_openai, options=Options(num_predict=900, timeout_s=5)).complete(task(Findings))
    assert result.truncated is True
    assert "reply cut at max_tokens=900" in result.notes


def test_max_tokens_is_what_cuts_the_reply(fake_openai):
    result = make_llm(fake_openai, options=Options(num_predict=20, timeout_s=5)).complete(task(Findings))
    assert all(r["max_tokens"] == 20 for r in fake_openai.requests)
    assert result.truncated is True and result.notes.count("reply cut at max_tokens=20") == result.requests
    assert result.completion_tokens <= 20 * result.requests


def test_truncated_describes_the_last_reply(fake_openai):
    fake_openai.script(Reply('{"subtopics": [', finish_reason="length"))  # cut, not repairable to a valid plan
    result = make_llm(fake_openai).complete(task())
    assert result.requests == 2 and result.value is not None
    assert result.truncated is False  # the retry ended by itself
    assert "reply cut at max_tokens=1024" in result.notes


@pytest.mark.parametrize("stream", [False, True])
def test_length_cut_is_seen_when_streaming_too(fake_openai, stream):
    fake_openai.script(Length())
    result = make_llm(fake_openai, stream=stream).complete(task(Findings))
    assert fake_openai.requests[0]["stream"] is stream
    assert "reply cut at max_tokens=1024" in result.notes


def test_a_reasoning_preamble_is_not_the_answer(fake_openai):
    fake_openai.script(Reply('<think>先想一想。</think>\n{"subtopics": ["算力需求与供给", "推理成本下降"]}'))
    result = make_llm(fake_openai).complete(task())
    assert result.value == Plan(subtopics=["算力需求与供给", "推理成本下降"]) and result.repaired is False


# ---------------------------------------------------------------------------------------------
# Transport faults and HTTP errors
# ---------------------------------------------------------------------------------------------


def test_http_500_then_success(fake_openai):
    fake_openai.script(Status(500, "boom"))
    result = make_llm(fake_openai).complete(task())
    assert result.value is not None and result.requests == 2 and result.repaired is False


@pytest.mark.parametrize("stream", [True, False])
def test_stream_cut_then_success(fake_openai, stream):
    fake_openai.script(CutStream(after_chunks=2))
    result = make_llm(fake_openai, stream=stream).complete(task())
    assert result.value is not None and result.requests == 2


def test_stream_ending_cleanly_without_done_is_a_cut(fake_openai):
    fake_openai.script(CutStream(after_chunks=2, clean=True), CutStream(after_chunks=1, clean=True))
    result = make_llm(fake_openai, stream=True).complete(task())
    assert result.value is not None and result.requests == 3


@pytest.mark.parametrize("fault", [Drop(), Garbage()])
def test_dropped_or_garbled_reply_then_success(fake_openai, fault):
    fake_openai.script(fault)
    result = make_llm(fake_openai).complete(task())
    assert result.value is not None and result.requests == 2


def test_slow_replies_exhaust_retries_and_name_the_step(fake_openai):
    fake_openai.script(Sleep(3), Sleep(3), Sleep(3))
    llm = make_llm(fake_openai, options=Options(timeout_s=0.2), max_retries=2)
    with pytest.raises(LLMError) as info:
        llm.complete(task(step="research[2].loop1.summarize"))
    message = str(info.value)
    assert message.startswith(f"research[2].loop1.summarize: {fake_openai.base_url} failed after 3 attempts: ")
    assert "Timeout" in message and "after 0.2 s" in message and "\n" not in message
    assert len(fake_openai.requests) == 3


def test_429_waits_what_retry_after_says(fake_openai, sleeps):
    fake_openai.script(RateLimit(retry_after="1.5"), RateLimit(retry_after="3600"))
    result = make_llm(fake_openai).complete(task())
    assert result.value is not None and result.requests == 3
    assert sleeps == [1.5, 60.0]  # honoured, then capped


def test_429_retry_after_as_an_http_date(fake_openai, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake_openai.script(RateLimit(retry_after=when))
    assert make_llm(fake_openai).complete(task()).requests == 2
    [waited] = sleeps
    assert 20 <= waited <= 31


def test_429_without_retry_after_backs_off_with_jitter(fake_openai, sleeps):
    fake_openai.script(RateLimit(retry_after=None), RateLimit(retry_after=None))
    assert make_llm(fake_openai, backoff_s=0.5).complete(task()).requests == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_persistent_429_is_one_line(fake_openai, sleeps):
    fake_openai.script(*[RateLimit(retry_after="2", message="Rate limit reached for requests")] * 3)
    with pytest.raises(LLMError) as info:
        make_llm(fake_openai).complete(task())
    assert str(info.value) == (
        f"plan: {fake_openai.base_url} is rate limiting (HTTP 429) after 3 attempts: Rate limit reached for "
        "requests; wait, lower --concurrency or raise --max-retries"
    )
    assert sleeps == [2.0, 2.0]


def test_401_without_a_key_names_the_variable(fake_openai):
    fake_openai.api_key = KEY
    with pytest.raises(LLMError) as info:
        make_llm(fake_openai).complete(task())
    assert str(info.value) == (
        f"plan: {fake_openai.base_url} wants an API key (HTTP 401) and $OPENAI_API_KEY is not set; set it, "
        "or name another variable with api_key_env"
    )
    assert len(fake_openai.requests) == 0 and len(fake_openai.calls) == 1  # refused at the door, not retried


def test_401_with_a_wrong_key_never_shows_it(fake_openai):
    fake_openai.api_key = "sk-the-right-one"
    llm = make_llm(fake_openai, key=KEY, api_key_env="DEEPSEEK_API_KEY")
    with pytest.raises(LLMError) as info:
        llm.complete(task())
    message = str(info.value)
    assert message == (
        f"plan: {fake_openai.base_url} refused the API key in $DEEPSEEK_API_KEY (HTTP 401); check the key, "
        "or name another variable with api_key_env"
    )
    assert KEY not in message and "PLANTED" not in message
    with pytest.raises(LLMError) as info:
        llm.check_model()
    assert KEY not in str(info.value) and "$DEEPSEEK_API_KEY" in str(info.value)


def test_a_server_message_quoting_the_key_is_blanked(fake_openai):
    fake_openai.api_key = KEY
    fake_openai.script(Status(400, f"bad request from key {KEY}"), Status(400, f"still bad for {KEY}"))
    with pytest.raises(LLMError) as info:
        make_llm(fake_openai, key=KEY).complete(task())
    assert KEY not in str(info.value) and "still bad for ***" in str(info.value)


def test_404_model_fails_at_once(fake_openai):
    with pytest.raises(LLMError) as info:
        make_llm(fake_openai, model="llama9-70b").complete(task())
    assert str(info.value) == (
        f"plan: model 'llama9-70b' is not served at {fake_openai.base_url} (HTTP 404: The model `llama9-70b` does not exist.)"
    )
    assert len(fake_openai.calls) == 1


def test_404_endpoint_says_base_url_is_wrong(fake_openai):
    llm = OpenAICompatLLM(f"http://127.0.0.1:{fake_openai.port}", MODEL, Options(timeout_s=5), environ={})
    with pytest.raises(LLMError) as info:
        llm.complete(task())
    assert str(info.value).startswith(f"plan: no chat-completions endpoint at http://127.0.0.1:{fake_openai.port}/chat/completions")
    assert "ending in /v1" in str(info.value)


def test_unreachable_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    llm = OpenAICompatLLM(url, MODEL, Options(timeout_s=2), max_retries=1, backoff_s=0.01, environ={})
    with pytest.raises(LLMError) as info:
        llm.complete(task(step="plan"))
    assert str(info.value) == f"plan: cannot reach the OpenAI-compatible server at {url} after 2 attempts: connection refused"


# ---------------------------------------------------------------------------------------------
# check_model
# ---------------------------------------------------------------------------------------------


def test_check_model_ok_sends_the_key(fake_openai):
    fake_openai.api_key = KEY
    make_llm(fake_openai, key=KEY).check_model()
    assert fake_openai.calls == [("GET", "/v1/models")] and fake_openai.auth_headers == [f"Bearer {KEY}"]


def test_check_model_missing_lists_what_is_served(fake_openai):
    fake_openai.models = ["a-model", "b-model"]
    with pytest.raises(LLMError) as info:
        make_llm(fake_openai).check_model()
    assert str(info.value) == f"model '{MODEL}' is not served at {fake_openai.base_url}; it serves: a-model, b-model"


def test_check_model_unreachable():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMError) as info:
        OpenAICompatLLM(url, MODEL, Options(), environ={}).check_model()
    assert str(info.value) == (
        f"cannot reach the OpenAI-compatible server at {url}: connection refused; start it or set base_url (--base-url)"
    )


def test_check_model_tolerates_a_server_without_models(fake_openai):
    fake_openai.models = [MODEL]
    llm = OpenAICompatLLM(f"http://127.0.0.1:{fake_openai.port}/v2", MODEL, Options(), environ={})
    llm.check_model()  # /v2/models is 404: the first chat request will say what is wrong


# ---------------------------------------------------------------------------------------------
# Budget and concurrency
# ---------------------------------------------------------------------------------------------


def test_prompt_is_budgeted_to_context_tokens_not_num_ctx(fake_openai):
    opts = Options(num_ctx=32768, num_predict=256, timeout_s=5)
    long_text = "算力需求持续增长，推理成为新的重点。" * 200
    t = task(content=long_text)
    result = make_llm(fake_openai, options=opts, context_tokens=1024).complete(t)
    assert result.value is not None
    [req] = fake_openai.requests
    assert sum(estimate_tokens(m["content"]) for m in req["messages"]) <= prompt_budget(1024, 256)
    assert req["messages"][0] == t.messages[0] and req["messages"][1]["content"].endswith("。")
    assert len(result.notes) == 1 and result.notes[0].endswith("tokens to fit context_tokens=1024")
    assert t.messages[1]["content"] == long_text


def test_context_tokens_defaults_to_num_ctx(fake_openai):
    assert make_llm(fake_openai, options=Options(num_ctx=4096)).context_tokens == 4096


def test_prompt_that_cannot_fit_is_never_sent(fake_openai):
    opts = Options(num_predict=128, timeout_s=5)
    with pytest.raises(LLMError, match=r"^plan: prompt of ~\d+ tokens cannot fit context_tokens=512"):
        make_llm(fake_openai, options=opts, context_tokens=512).complete(task(system="系统提示。" * 200))
    assert fake_openai.requests == []


def test_one_engine_serves_parallel_workers(fake_openai):
    fake_openai.delay_s = 0.1
    llm = make_llm(fake_openai)
    results: list = []

    def work(i: int) -> None:
        results.append(llm.complete(task(content=f"子主题{i}：人工智能算力。")))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 6 and all(r.value is not None and r.requests == 1 for r in results)
    assert len(fake_openai.requests) == 6


def test_httpx_is_imported_lazily():
    code = "import sys, pipeline.llm.openai_compat; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
