"""The fake Ollama itself: protocol fidelity (checked with plain httpx and the official client),
schema instances, scripting, and process mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import ollama
import pytest
from fake_ollama import FakeOllama, Reply, default_content, instance_for

from pipeline.kinds.research.slots import (
    Advice,
    Assessment,
    DetailedAnalysis,
    ExecutiveSummary,
    Findings,
    KeyFindings,
    Outlook,
    Plan,
    Query,
    Reflection,
    RunningSummary,
    Trends,
)
from pipeline.llm.validate import json_schema_for, parse_reply
from pipeline.text import cjk_ratio

SLOTS = [
    Plan,
    Query,
    RunningSummary,
    Reflection,
    Findings,
    Trends,
    Assessment,
    Outlook,
    Advice,
    ExecutiveSummary,
    DetailedAnalysis,
    KeyFindings,
]
FAKE = Path(__file__).resolve().parents[1] / "fake_ollama.py"


@pytest.mark.parametrize("model", SLOTS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("inline", [True, False], ids=["inlined", "refs"])
def test_default_instances_validate_and_are_chinese(model, inline):
    schema = json_schema_for(model) if inline else model.model_json_schema()
    for seed in range(5):
        raw = json.dumps(instance_for(schema, seed), ensure_ascii=False)
        value, repaired, error = parse_reply(raw, model, min_cjk=0.9)
        assert error is None and not repaired, (raw, error)


def test_arrays_honour_bounds_and_strings_max_length():
    schema = {
        "type": "object",
        "properties": {
            "one": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1},
            "many": {"type": "array", "items": {"type": "string"}, "minItems": 3},
            "free": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9}},
            "short": {"type": "string", "maxLength": 5},
            "flag": {"type": "boolean"},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    value = instance_for(schema, 1)
    assert len(value["one"]) == 1 and len(value["many"]) == 3 and len(value["free"]) == 2
    assert all(1 <= n <= 9 for n in value["free"])
    assert len(value["short"]) <= 5 and isinstance(value["flag"], bool) and isinstance(value["maybe"], str)


def test_default_reply_is_deterministic_by_messages():
    req = {"messages": [{"role": "user", "content": "甲"}], "format": json_schema_for(Plan)}
    other = {"messages": [{"role": "user", "content": "乙"}], "format": json_schema_for(Plan)}
    assert default_content(req) == default_content(dict(req))
    assert default_content(req) != default_content(other)
    prose = default_content({"messages": [{"role": "user", "content": "你好"}]})
    assert cjk_ratio(prose) > 0.9 and not prose.startswith("{")


def test_endpoints_with_plain_http(fake_ollama):
    base = fake_ollama.url
    assert httpx.get(f"{base}/api/version").json()["version"]
    tags = httpx.get(f"{base}/api/tags").json()["models"]
    assert [(m["name"], m["model"]) for m in tags] == [("qwen2.5:7b", "qwen2.5:7b")]
    assert httpx.post(f"{base}/api/show", json={"model": "qwen2.5:7b"}).status_code == 200
    missing = httpx.post(f"{base}/api/chat", json={"model": "x", "messages": [], "stream": False})
    assert missing.status_code == 404
    assert missing.json() == {"error": 'model "x" not found, try pulling it first'}


def test_chat_streams_ndjson_by_default(fake_ollama):
    body = {
        "model": "qwen2.5:7b",
        "messages": [{"role": "user", "content": "你好"}],
    }  # no "stream": Ollama streams
    with httpx.stream("POST", f"{fake_ollama.url}/api/chat", json=body) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert len(lines) > 2 and all(not c["done"] for c in lines[:-1])
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert {"total_duration", "prompt_eval_count", "eval_count"} <= set(final)
    text = "".join(c["message"]["content"] for c in lines)
    assert final["eval_count"] == len(text) and final["prompt_eval_count"] == 2


def test_official_client_against_fake(fake_ollama):
    client = ollama.Client(host=fake_ollama.url)
    assert [m.model for m in client.list().models] == ["qwen2.5:7b"]
    reply = client.chat(
        model="qwen2.5:7b",
        messages=[{"role": "user", "content": "拆分主题"}],
        format=Plan.model_json_schema(),
        stream=False,
    )
    assert Plan.model_validate_json(reply.message.content).subtopics
    gen = client.generate(model="qwen2.5:7b", prompt="你好", stream=False)
    assert gen.done and gen.response
    with pytest.raises(ollama.ResponseError) as info:
        client.show("nope")
    assert info.value.status_code == 404


def test_responder_and_script_order(fake_ollama):
    fake_ollama.responder = lambda req: "由回调回答" if "回调" in req["messages"][0]["content"] else None
    fake_ollama.script(Reply("脚本优先"))
    client = ollama.Client(host=fake_ollama.url)

    def ask(text: str) -> str:
        return client.chat(model="qwen2.5:7b", messages=[{"role": "user", "content": text}]).message.content

    assert ask("回调") == "脚本优先"
    assert ask("回调") == "由回调回答"
    assert ask("其他").startswith("人工智能")
    assert len(fake_ollama.requests) == 3 and fake_ollama.pending == 0


def test_process_mode_prints_ready_and_fails_every_n():
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", "0", "--model", "gemma3-270m", "--fail-every", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        body = {
            "model": "gemma3-270m:latest",
            "messages": [{"role": "user", "content": "你好"}],
            "stream": False,
        }
        codes = [httpx.post(f"{url}/api/chat", json=body, timeout=5).status_code for _ in range(4)]
        assert codes == [200, 500, 200, 500]
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_start_stop_twice():
    fake = FakeOllama()
    fake.start()
    url = fake.url
    assert httpx.get(f"{url}/api/version").status_code == 200
    fake.stop()
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/version", timeout=1)


@pytest.mark.parametrize("sent", [b"", b'{"model": "qwen2.5:7b", "messa'])
def test_a_request_cut_before_its_body_arrived_is_a_call_not_a_request(fake_ollama, sent):
    """httpx writes a request's headers and body separately; a client killed between the two (the fault
    tests' SIGKILL) leaves headers and part of the body or none. The model never saw such a request:
    it is not in `requests` (the resume test compares those with an uninterrupted run's)."""
    import socket
    import time

    with socket.create_connection(("127.0.0.1", fake_ollama.port)) as s:
        s.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 120\r\n\r\n" + sent)
    deadline = time.monotonic() + 5
    while not fake_ollama.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake_ollama.calls == [("POST", "/api/chat")]
    assert fake_ollama.requests == []
    # a whole request is still one
    ollama.Client(host=fake_ollama.url).chat(model="qwen2.5:7b", messages=[{"role": "user", "content": "你好"}])
    assert [r["messages"] for r in fake_ollama.requests] == [[{"role": "user", "content": "你好"}]]


def test_wait_idle_returns_once_every_connection_is_handled(fake_ollama):
    """After a client is gone, `wait_idle` returns only when what it sent has been read: a request whose
    reply is still being delayed keeps the server busy."""
    import socket
    import threading

    fake_ollama.delay_s = 0.3
    body = json.dumps({"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "你好"}], "stream": False})
    with socket.create_connection(("127.0.0.1", fake_ollama.port)) as s:
        s.sendall(f"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n{body}".encode())
    done = threading.Event()
    threading.Thread(target=lambda: (fake_ollama.wait_idle(), done.set()), daemon=True).start()
    assert not done.wait(0.1)  # the request is read and its reply delayed: not idle
    assert done.wait(10)
    assert len(fake_ollama.requests) == 1
