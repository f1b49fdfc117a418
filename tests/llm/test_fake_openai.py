"""The fake OpenAI-compatible server itself, checked with plain httpx: the response shapes servers send
(non-streaming, SSE chunks with a usage chunk and `[DONE]`), max_tokens, the schema it answers to,
the key and model checks, and process mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from fake_openai import SCHEMA_MARK, FakeOpenAI, RateLimit, schema_of

from pipeline.kinds.research.slots import Findings, Plan
from pipeline.llm.validate import json_schema_for, parse_reply

FAKE = Path(__file__).resolve().parents[1] / "fake_openai.py"
MODEL = "qwen2.5-7b-instruct"


def chat(fake: FakeOpenAI, **body) -> httpx.Response:
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "人工智能算力。"}], **body}
    return httpx.post(f"{fake.base_url}/chat/completions", json=payload, timeout=5)


def schema_format(model) -> dict:
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": json_schema_for(model)}}


def test_models_and_a_non_streaming_reply(fake_openai):
    listing = httpx.get(f"{fake_openai.base_url}/models", timeout=5).json()
    assert listing["object"] == "list" and [m["id"] for m in listing["data"]] == [MODEL]
    data = chat(fake_openai, response_format=schema_format(Findings)).json()
    [choice] = data["choices"]
    assert data["object"] == "chat.completion" and choice["finish_reason"] == "stop"
    content = choice["message"]["content"]
    value, repaired, error = parse_reply(content, Findings)
    assert value is not None and not repaired and error is None
    assert data["usage"]["completion_tokens"] == len(content)
    assert data["usage"]["prompt_tokens"] == len("人工智能算力。")


def test_streaming_sends_sse_chunks_usage_and_done(fake_openai):
    body = {"stream": True, "stream_options": {"include_usage": True}, "response_format": schema_format(Plan)}
    with httpx.stream("POST", f"{fake_openai.base_url}/chat/completions", timeout=5,
                      json={"model": MODEL, "messages": [{"role": "user", "content": "算力"}], **body}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [x for x in r.iter_lines() if x]
    assert lines[-1] == "data: [DONE]" and ": keep-alive" in lines
    chunks = [json.loads(x[6:]) for x in lines if x.startswith("data: {")]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert parse_reply(text, Plan)[0] is not None
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(text)
    without = chat(fake_openai, stream=True)  # no include_usage: no usage chunk
    assert "usage" not in without.text


def test_max_tokens_cuts_with_finish_reason_length(fake_openai):
    data = chat(fake_openai, max_tokens=10, response_format=schema_format(Findings)).json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert len(data["choices"][0]["message"]["content"]) == 10 == data["usage"]["completion_tokens"]


def test_json_object_answers_the_schema_written_in_the_prompt(fake_openai):
    schema = json_schema_for(Plan)
    prompt = "拆分主题。" + SCHEMA_MARK + json.dumps(schema, ensure_ascii=False)
    request = {"response_format": {"type": "json_object"}, "messages": [{"role": "user", "content": prompt}]}
    assert schema_of(request) == schema
    data = chat(fake_openai, **request).json()
    assert parse_reply(data["choices"][0]["message"]["content"], Plan)[0] is not None
    fake_openai.json_schema = False
    refused = chat(fake_openai, response_format=schema_format(Plan))
    assert refused.status_code == 400 and "response_format" in refused.json()["error"]["message"]


def test_key_model_and_scripted_errors(fake_openai):
    fake_openai.api_key = "sk-right"
    assert httpx.get(f"{fake_openai.base_url}/models", timeout=5).status_code == 401
    wrong = httpx.post(f"{fake_openai.base_url}/chat/completions", json={"model": MODEL, "messages": []},
                       headers={"Authorization": "Bearer sk-wrong"}, timeout=5)
    assert wrong.status_code == 401 and "sk-wrong" in wrong.json()["error"]["message"]  # echoed, as some do
    auth = {"Authorization": "Bearer sk-right"}
    missing = httpx.post(f"{fake_openai.base_url}/chat/completions", json={"model": "nope", "messages": []},
                         headers=auth, timeout=5)
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]["message"]
    fake_openai.script(RateLimit(retry_after="7"))
    limited = httpx.post(f"{fake_openai.base_url}/chat/completions", json={"model": MODEL, "messages": []},
                         headers=auth, timeout=5)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert fake_openai.auth_headers[-1] == "Bearer sk-right" and len(fake_openai.requests) == 1


def test_process_mode_prints_ready_and_serves():
    proc = subprocess.Popen([sys.executable, str(FAKE), "--port", "0", "--model", "m1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[0] == "READY" and line[1].endswith("/v1")
        assert [m["id"] for m in httpx.get(f"{line[1]}/models", timeout=5).json()["data"]] == ["m1"]
    finally:
        proc.kill()
        proc.wait(timeout=10)
