"""OllamaLLM against the fake Ollama over real HTTP: options, streaming, repair, retries, errors, budget."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_ollama import CutStream, Drop, Garbage, ModelMissing, Reply, Sleep, Status

from pipeline.kinds.research.slots import Findings, Plan
from pipeline.llm.base import LLMError, Options, Task
from pipeline.llm.budget import estimate_tokens, prompt_budget
from pipeline.llm.ollama import OllamaLLM
from pipeline.models import TaskContext

MODEL = "qwen2.5:7b"
ROOT = Path(__file__).resolve().parents[2]


def make_llm(fake, *, options: Options | None = None, **kw) -> OllamaLLM:
    kw.setdefault("backoff_s", 0.01)
    return OllamaLLM(fake.url, MODEL, options or Options(timeout_s=5), **kw)


def task(
    schema=Plan,
    content: str = "请把主题拆分为子主题：人工智能算力。",
    step: str = "plan",
    system: str | None = None,
):
    messages = [{"role": "system", "content": system or "你是研究助理。只输出JSON，用中文。"}]
    messages.append({"role": "user", "content": content})
    return Task(
        step=step, kind="plan", schema=schema, messages=messages, context=TaskContext(topic="人工智能算力")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Request shape
# ---------------------------------------------------------------------------------------------


def test_options_format_and_keep_alive_are_always_sent(fake_ollama):
    opts = Options(num_ctx=4096, num_predict=512, temperature=0.0, seed=7, timeout_s=5)
    result = make_llm(fake_ollama, options=opts, keep_alive="3m").complete(task(Findings))
    assert result.value is not None and result.degraded is None
    [req] = fake_ollama.requests
    assert req["model"] == MODEL
    assert req["options"] == {"num_ctx": 4096, "num_predict": 512, "temperature": 0.0, "seed": 7}
    assert req["keep_alive"] == "3m"
    assert req["stream"] is False
    fmt = req["format"]
    assert fmt["type"] == "object" and "$defs" not in json.dumps(fmt) and "$ref" not in json.dumps(fmt)
    assert fmt["properties"]["groups"]["items"]["properties"]["points"]["type"] == "array"
    assert req["messages"] == task(Findings).messages


def test_non_streaming_completion(fake_ollama):
    result = make_llm(fake_ollama).complete(task(Findings))
    assert isinstance(result.value, Findings)
    assert 1 <= len(result.value.groups) <= 5
    assert result.requests == 1 and result.repaired is False and result.degraded is None
    assert json.loads(result.raw) == result.value.model_dump()
    assert result.prompt_tokens > 0 and result.completion_tokens == len(result.raw)
    assert result.seconds > 0 and result.notes == []


def test_streaming_completion(fake_ollama):
    fake_ollama.chunk_chars = 3  # many chunks
    result = make_llm(fake_ollama, stream=True).complete(task(Findings))
    assert fake_ollama.requests[0]["stream"] is True
    assert isinstance(result.value, Findings)
    assert result.requests == 1
    assert result.completion_tokens == len(result.raw)  # counts come from the final done chunk
    expected_prompt = sum(len(m["content"]) for m in task(Findings).messages)
    assert result.prompt_tokens == expected_prompt


def test_streaming_and_non_streaming_agree(fake_ollama):
    a = make_llm(fake_ollama, stream=False).complete(task())
    b = make_llm(fake_ollama, stream=True).complete(task())
    assert a.value == b.value and a.raw == b.raw


def test_cache_identity(fake_ollama):
    opts = Options(num_ctx=2048, num_predict=128, temperature=0.1, seed=3)
    ident = make_llm(fake_ollama, options=opts).cache_identity()
    assert ident == {"provider": "ollama", "model": MODEL, "options": opts.ollama(), "format_version": 1}
    assert make_llm(fake_ollama).provider == "ollama"


# ---------------------------------------------------------------------------------------------
# Bad output: repair, retry, degrade
# ---------------------------------------------------------------------------------------------


def test_malformed_json_is_repaired_without_retry(fake_ollama):
    fake_ollama.script(Reply('{"subtopics": ["算力需求与供给", "推理成本下降"'))
    result = make_llm(fake_ollama).complete(task())
    assert result.value == Plan(subtopics=["算力需求与供给", "推理成本下降"])
    assert result.repaired is True and result.requests == 1 and result.degraded is None


def test_invalid_output_is_retried_once_with_the_error_quoted(fake_ollama):
    bad = '{"subtopics": []}'
    fake_ollama.script(Reply(bad))
    result = make_llm(fake_ollama).complete(task())
    assert result.value is not None and result.degraded is None
    assert result.repaired is True and result.requests == 2
    first, second = fake_ollama.requests
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assistant, correction = second["messages"][-2:]
    assert assistant == {"role": "assistant", "content": bad}
    assert (
        correction["role"] == "user"
        and "subtopics" in correction["content"]
        and "JSON" in correction["content"]
    )
    assert "中文" in correction["content"]
    assert second["format"] == first["format"] and second["options"] == first["options"]


def test_invalid_after_repair_and_retry_degrades(fake_ollama):
    fake_ollama.script(Reply('{"subtopics": []}'), Reply("not json at all"))
    result = make_llm(fake_ollama).complete(task())
    assert result.value is None
    assert result.degraded is not None
    assert result.degraded.startswith("invalid output after repair and retry: ")
    assert "JSON" in result.degraded
    assert result.requests == 2 and len(fake_ollama.requests) == 2
    assert result.repaired is True
    assert result.raw == "not json at all"  # the last raw content


def test_english_answer_is_retried_in_chinese(fake_ollama):
    fake_ollama.script(Reply('{"subtopics": ["AI compute demand", "Inference cost"]}'))
    result = make_llm(fake_ollama).complete(task())
    assert result.value is not None and result.requests == 2 and result.repaired is True
    correction = fake_ollama.requests[1]["messages"][-1]["content"]
    assert "回答不是中文 (cjk ratio 0.00)" in correction


def test_english_twice_degrades_with_the_reason(fake_ollama):
    english = '{"subtopics": ["AI compute demand"]}'
    fake_ollama.script(Reply(english), Reply(english))
    result = make_llm(fake_ollama).complete(task())
    assert result.value is None
    assert result.degraded == "invalid output after repair and retry: 回答不是中文 (cjk ratio 0.00)"


def test_token_counts_are_summed_over_requests(fake_ollama):
    fake_ollama.script(Reply('{"subtopics": []}'))
    result = make_llm(fake_ollama).complete(task())
    reqs = fake_ollama.requests
    expected_prompt = sum(len(m["content"]) for r in reqs for m in r["messages"])
    assert result.prompt_tokens == expected_prompt
    assert result.completion_tokens == len('{"subtopics": []}') + len(result.raw)
    assert result.requests == 2


# ---------------------------------------------------------------------------------------------
# Transport faults
# ---------------------------------------------------------------------------------------------


def test_http_500_then_success(fake_ollama):
    fake_ollama.script(Status(500, "boom"))
    result = make_llm(fake_ollama).complete(task())
    assert result.value is not None and result.requests == 2 and result.repaired is False


@pytest.mark.parametrize("stream", [True, False])
def test_stream_cut_then_success(fake_ollama, stream):
    fake_ollama.script(CutStream(after_chunks=2))
    result = make_llm(fake_ollama, stream=stream).complete(task())
    assert result.value is not None and result.requests == 2


def test_stream_ending_cleanly_without_done_is_a_cut(fake_ollama):
    fake_ollama.script(CutStream(after_chunks=2, clean=True), CutStream(after_chunks=1, clean=True))
    result = make_llm(fake_ollama, stream=True).complete(task())
    assert result.value is not None and result.requests == 3


def test_dropped_connection_then_success(fake_ollama):
    fake_ollama.script(Drop())
    result = make_llm(fake_ollama).complete(task())
    assert result.value is not None and result.requests == 2


def test_non_json_http_body_then_success(fake_ollama):
    fake_ollama.script(Garbage())
    result = make_llm(fake_ollama).complete(task())
    assert result.value is not None and result.requests == 2


def test_slow_replies_exhaust_retries_and_name_the_step(fake_ollama):
    fake_ollama.script(Sleep(2), Sleep(2), Sleep(2))
    llm = make_llm(fake_ollama, options=Options(timeout_s=0.2), max_retries=2)
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        llm.complete(task(step="research[2].loop1.summarize"))
    message = str(info.value)
    assert message.startswith(
        f"research[2].loop1.summarize: Ollama at {fake_ollama.url} failed after 3 attempts: "
    )
    assert "Timeout" in message and "\n" not in message
    assert len(fake_ollama.requests) == 3
    assert time.monotonic() - started < 3.0  # not 3 x 2 s: the timeout cut each try


def test_persistent_500_raises_after_retries(fake_ollama):
    fake_ollama.script(*[Status(503, "overloaded")] * 3)
    with pytest.raises(LLMError, match=r"failed after 3 attempts: HTTP 503: overloaded"):
        make_llm(fake_ollama).complete(task())


def test_backoff_uses_full_jitter(fake_ollama, monkeypatch):
    calls: list[tuple[float, float]] = []

    def fake_uniform(a: float, b: float) -> float:
        calls.append((a, b))
        return 0.0

    monkeypatch.setattr("pipeline.llm.ollama.random.uniform", fake_uniform)
    fake_ollama.script(Status(500), Status(500), Status(500), Status(500))
    with pytest.raises(LLMError, match="failed after 4 attempts"):
        make_llm(fake_ollama, max_retries=3, backoff_s=0.5).complete(task())
    assert calls == [(0, 0.5), (0, 1.0), (0, 2.0)]


def test_missing_model_fails_at_once_with_pull_hint(fake_ollama):
    llm = OllamaLLM(fake_ollama.url, "llama9:70b", Options(timeout_s=5), backoff_s=0.01)
    with pytest.raises(LLMError) as info:
        llm.complete(task(step="plan"))
    assert str(info.value) == (
        f"plan: model 'llama9:70b' is not available at {fake_ollama.url}; pull it with: ollama pull llama9:70b"
    )
    assert len(fake_ollama.requests) == 1  # no retries


def test_scripted_model_missing(fake_ollama):
    fake_ollama.script(ModelMissing())
    with pytest.raises(LLMError, match="ollama pull qwen2.5:7b"):
        make_llm(fake_ollama).complete(task())
    assert len(fake_ollama.requests) == 1


def test_bad_request_is_not_retried(fake_ollama):
    fake_ollama.script(Status(400, "invalid format schema"))
    with pytest.raises(
        LLMError, match=r"^plan: Ollama at .* rejected the request: HTTP 400: invalid format schema$"
    ):
        make_llm(fake_ollama).complete(task())
    assert len(fake_ollama.requests) == 1


def test_unreachable_host():
    host = f"http://127.0.0.1:{free_port()}"
    llm = OllamaLLM(host, MODEL, Options(timeout_s=2), max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMError) as info:
        llm.complete(task(step="plan"))
    assert str(info.value) == f"plan: Ollama at {host} failed after 2 attempts: connection refused"


def test_host_without_scheme_is_accepted(fake_ollama):
    llm = OllamaLLM(f"127.0.0.1:{fake_ollama.port}", MODEL, Options(timeout_s=5))
    assert llm.host == fake_ollama.url
    assert llm.complete(task()).value is not None


# ---------------------------------------------------------------------------------------------
# check_model
# ---------------------------------------------------------------------------------------------


def test_check_model_ok(fake_ollama):
    make_llm(fake_ollama).check_model()
    assert ("GET", "/api/tags") in fake_ollama.calls


@pytest.mark.parametrize(
    ("present", "wanted"), [("gemma3-270m", "gemma3-270m:latest"), ("gemma3-270m:latest", "gemma3-270m")]
)
def test_check_model_latest_either_way(fake_ollama, present, wanted):
    fake_ollama.models = [present]
    OllamaLLM(fake_ollama.url, wanted, Options()).check_model()


def test_check_model_missing(fake_ollama):
    fake_ollama.models = ["qwen2.5:14b"]
    with pytest.raises(LLMError) as info:
        make_llm(fake_ollama).check_model()
    assert str(info.value) == (
        f"model 'qwen2.5:7b' is not available at {fake_ollama.url}; pull it with: ollama pull qwen2.5:7b"
    )


def test_check_model_unreachable():
    host = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LLMError) as info:
        OllamaLLM(host, MODEL, Options()).check_model()
    assert str(info.value) == (
        f"cannot reach Ollama at {host}: connection refused; start it with `ollama serve` or set OLLAMA_HOST"
    )


# ---------------------------------------------------------------------------------------------
# Budget
# ---------------------------------------------------------------------------------------------


def _prompt_estimate(req: dict) -> int:
    return sum(estimate_tokens(m["content"]) for m in req["messages"])


def test_long_prompt_is_clipped_with_a_note(fake_ollama):
    opts = Options(num_ctx=1024, num_predict=256, timeout_s=5)
    budget = prompt_budget(1024, 256)
    long_text = "算力需求持续增长，推理成为新的重点。" * 200  # ~3600 estimated tokens
    t = task(content=long_text)
    result = make_llm(fake_ollama, options=opts).complete(t)
    assert result.value is not None
    [req] = fake_ollama.requests
    assert _prompt_estimate(req) <= budget
    assert req["messages"][0] == t.messages[0]  # the instructions are never clipped
    assert req["messages"][1]["content"].endswith("。")  # cut at a sentence end
    before = sum(estimate_tokens(m["content"]) for m in t.messages)
    assert result.notes == [
        f"prompt clipped from ~{before} to ~{_prompt_estimate(req)} tokens to fit num_ctx=1024"
    ]
    assert t.messages[1]["content"] == long_text  # the caller's task is not mutated


def test_retry_prompt_also_fits(fake_ollama):
    opts = Options(num_ctx=1024, num_predict=256, timeout_s=5)
    fake_ollama.script(Reply('{"subtopics": []}' + " " * 600))
    long_text = "算力需求持续增长，推理成为新的重点。" * 200
    result = make_llm(fake_ollama, options=opts).complete(task(content=long_text))
    assert result.value is not None and result.requests == 2
    for req in fake_ollama.requests:
        assert _prompt_estimate(req) <= prompt_budget(1024, 256)
    assert len(result.notes) == 2


def test_no_room_for_a_retry_degrades_instead_of_raising(fake_ollama):
    opts = Options(num_ctx=512, num_predict=128, timeout_s=5)  # budget 320 tokens
    fake_ollama.script(Reply('{"subtopics": []}' + "。" * 250))  # the echo alone fills the window
    result = make_llm(fake_ollama, options=opts).complete(task(system="系统提示。" * 30))
    assert result.value is None and result.requests == 1
    assert result.degraded is not None and result.degraded.startswith(
        "invalid output, no room in num_ctx=512"
    )


def test_prompt_that_cannot_fit_is_never_sent(fake_ollama):
    opts = Options(num_ctx=512, num_predict=128, timeout_s=5)
    with pytest.raises(LLMError, match=r"^plan: prompt of ~\d+ tokens cannot fit num_ctx=512"):
        make_llm(fake_ollama, options=opts).complete(task(system="系统提示。" * 200))
    assert fake_ollama.requests == []


# ---------------------------------------------------------------------------------------------
# Concurrency and start-up cost
# ---------------------------------------------------------------------------------------------


def test_one_engine_serves_parallel_workers(fake_ollama):
    fake_ollama.delay_s = 0.3
    llm = make_llm(fake_ollama)
    results: list = []

    def work(i: int) -> None:
        results.append(llm.complete(task(content=f"子主题{i}：人工智能算力。")))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    started = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert time.monotonic() - started < 1.2  # 6 x 0.3 s = 1.8 s sequentially
    assert len(results) == 6 and all(r.value is not None for r in results)


def test_ollama_client_is_imported_lazily():
    code = "import sys, pipeline.llm.ollama; print('ollama' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
