"""A fake Ollama server: the real HTTP protocol, scripted replies.

Tests talk to it over real sockets through the official client, so timeouts, stream cuts, HTTP errors
and connection drops exercise the same code paths as in production; nothing is monkeypatched.

In-process use::

    with FakeOllama(models=["qwen2.5:7b"]) as fake:
        fake.script(Status(500, "boom"), Reply("{not json"))
        llm = OllamaLLM(fake.url, "qwen2.5:7b", Options())
        ...
        assert len(fake.requests) == 3

As a process (CLI subprocess tests, benchmarks)::

    python tests/fake_ollama.py --port 0 --delay 0.2 --model qwen2.5:7b [--fail-every N]

prints ``READY http://127.0.0.1:PORT`` once listening and serves until killed.

Order of answers to a chat request: the next scripted action, if any; else `responder(request)` if set
and it returns a string (or a `Reply`, to set `done_reason` too); else the default responder, which
builds a deterministic valid instance of the request's `format` JSON schema out of Chinese sentences
(or a Chinese paragraph without `format`); a plan's sub-topics are the document titles its prompt
lists, as a model grounded in its preview would answer.
Each statement of a default answer (a point, a paragraph, a summary) names its own briefing
("据第N号简报，…", N drawn from the request), so the statements of one report differ as a real model's
would: yanbao rejects points that repeat one another (pipeline/kinds/slotcheck.py).

`FakeOllama(prefix_cache=True)` counts prompt tokens as a llama.cpp-based server does: one token per
character of the chat (role and content of each message); `prompt_eval_count` is what follows the
longest prefix shared with any earlier request, `prompt_cached_count` that prefix. `Reply(content,
done_reason="length")` scripts a reply cut at the token limit.

Stdlib only, importable without pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "0.5.4-fake"

SENTENCES = [
    "算力需求持续增长，推理成为新的重点。",
    "大模型训练成本快速下降，开源生态日趋成熟。",
    "云厂商加大资本开支，数据中心建设明显提速。",
    "企业应用从试点走向规模部署，投资回报成为关注焦点。",
    "国产芯片加速替代，供应链安全受到重视。",
    "监管框架逐步完善，数据合规要求不断提高。",
    "端侧模型兴起，手机与个人电脑成为新的入口。",
    "电力供应成为制约数据中心扩张的关键因素。",
    "多模态能力快速提升，视频生成进入商用阶段。",
    "智能体应用逐步落地，软件开发效率显著提高。",
    "行业大模型在金融、医疗和制造领域率先应用。",
    "价格竞争加剧，模型调用费用持续走低。",
    "人才缺口依然较大，复合型人才供不应求。",
    "高带宽存储供不应求，封装产能持续紧张。",
    "液冷技术渗透率提升，能效指标成为采购标准。",
    "中小企业更倾向于采用订阅制云服务。",
    "安全与可解释性问题仍需行业共同应对。",
    "资本市场对人工智能板块保持较高关注度。",
    "边缘计算与云端协同成为主流架构。",
    "数据要素市场建设推动高质量数据集供给。",
    "开源模型性能逼近闭源模型，选择空间扩大。",
    "芯片出口管制带来不确定性，企业加快多元布局。",
    "推理优化技术降低部署门槛，成本优势显现。",
    "政策支持力度加大，地方算力平台陆续上线。",
]

PARAGRAPH = "人工智能产业正处于快速发展阶段，算力、模型与应用三个层面同步演进。"

KEYWORDS = [
    "人工智能",
    "算力",
    "推理",
    "大模型",
    "数据中心",
    "芯片",
    "云服务",
    "开源",
    "智能体",
    "政策",
    "能耗",
    "投资",
]


# ---------------------------------------------------------------------------------------------
# Scripted actions
# ---------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """Answer with exactly this assistant content (e.g. malformed JSON, English text); `done_reason`
    "length" says it was cut at the token limit."""

    content: str
    done_reason: str = "stop"


@dataclass
class Sleep:
    """Sleep, then answer as the default responder would (tests client timeouts)."""

    seconds: float


@dataclass
class Status:
    """Answer with an HTTP error status and Ollama's `{"error": message}` body."""

    code: int = 500
    message: str = "boom"


@dataclass
class CutStream:
    """Send `after_chunks` chunks of the default reply, then close the connection without `done`.
    For a non-streaming request: send the headers and half of the body, then close.

    `clean=True` ends the chunked body properly instead (as a proxy that times out might): the
    client sees a well-formed stream that simply never says `done`."""

    after_chunks: int = 2
    clean: bool = False


@dataclass
class Garbage:
    """HTTP 200 with a body that is not Ollama JSON (a captive portal, a proxy's HTML page)."""

    body: str = "<html><body>502 Bad Gateway</body></html>"


@dataclass
class Drop:
    """Close the socket without sending any response."""


@dataclass
class ModelMissing:
    """Answer 404 as Ollama does for a model that is not pulled."""


Action = Reply | Sleep | Status | CutStream | Garbage | Drop | ModelMissing


# ---------------------------------------------------------------------------------------------
# Default responder
# ---------------------------------------------------------------------------------------------


def _seed_of(messages: Any) -> int:
    blob = json.dumps(messages, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


#: Keys whose strings name or label something (or are search queries): no briefing number for them.
_LABEL_KEYS = frozenset({"title", "titles", "name", "value", "headline", "hook", "category", "subtopics", "query",
                         "follow_up_query", "knowledge_gap", "thesis"})


def _fit_string(text: str, schema: dict) -> str:
    lo = int(schema.get("minLength", 0) or 0)
    hi = schema.get("maxLength")
    while len(text) < lo:
        text += SENTENCES[len(text) % len(SENTENCES)]
    if hi is not None and len(text) > int(hi):
        text = text[: int(hi)]
    if lo and len(text) < lo:  # minLength > maxLength cannot happen in a sane schema
        text = text.ljust(lo, "。")
    return text


def instance_for(schema: dict, seed: int) -> Any:
    """A deterministic instance of `schema` (subset of JSON Schema used by pydantic) in Chinese."""
    root = schema
    rng = random.Random(seed)

    def resolve(node: dict) -> dict:
        seen = 0
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            seen += 1
            if seen > 32:
                raise ValueError("recursive $ref")
        return node

    def build(node: Any, key: str, depth: int) -> Any:
        if not isinstance(node, dict) or depth > 12:
            return SENTENCES[rng.randrange(len(SENTENCES))]
        node = resolve(node)
        if "const" in node:
            return node["const"]
        if node.get("enum"):
            return node["enum"][rng.randrange(len(node["enum"]))]
        for combo in ("anyOf", "oneOf"):
            if node.get(combo):
                options = [o for o in node[combo] if resolve(o).get("type") != "null"] or node[combo]
                return build(options[0], key, depth + 1)
        if node.get("allOf"):
            merged: dict = {}
            for part in node["allOf"]:
                merged.update(resolve(part))
            return build(merged, key, depth + 1)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in node else "array" if "items" in node else "string"
        if kind == "object":
            props = node.get("properties", {})
            return {name: build(sub, name, depth + 1) for name, sub in props.items()}
        if kind == "array":
            lo = int(node.get("minItems", 0) or 0)
            n = max(lo, 2)
            if node.get("maxItems") is not None:
                n = min(n, int(node["maxItems"]))
            return [build(node.get("items", {"type": "string"}), key, depth + 1) for _ in range(n)]
        if kind == "string":
            if "query" in key:  # search queries are keywords, not sentences
                text = " ".join(rng.sample(KEYWORDS, 3))
            elif key == "title":
                text = SENTENCES[rng.randrange(len(SENTENCES))].split("，")[0]
            elif key in _LABEL_KEYS or node.get("maxLength") is not None and int(node["maxLength"]) < 60:
                text = SENTENCES[rng.randrange(len(SENTENCES))]
            else:  # a statement: each one its own, as a model's points are (see the module docstring)
                text = f"据第{rng.randrange(1, 100000)}号简报，{SENTENCES[rng.randrange(len(SENTENCES))]}"
            return _fit_string(text, node)
        if kind in ("integer", "number"):
            lo = node.get("minimum", node.get("exclusiveMinimum", 0))
            hi = node.get("maximum", node.get("exclusiveMaximum", lo + 100))
            value = rng.randint(int(lo) + 1, max(int(lo) + 1, int(hi) - 1)) if hi > lo + 1 else lo
            return int(value) if kind == "integer" else float(value)
        if kind == "boolean":
            return bool(rng.randrange(2))
        return None

    return build(schema, "", 0)


def _listed_titles(request: dict) -> list[str]:
    """The document titles a plan prompt lists ("- title" lines after its 资料标题 line), in order."""
    text = "\n".join(str(m.get("content", "")) for m in request.get("messages") or [])
    if "资料标题" not in text:
        return []
    after = text.split("资料标题", 1)[1]
    return [line[2:].strip() for line in after.splitlines() if line.startswith("- ") and line[2:].strip()]


def default_content(request: dict) -> str:
    """What the fake model says when nothing is scripted: JSON for a schema `format`, else prose. A plan's
    sub-topics are the titles of the documents its prompt lists, as a model grounded in them would answer
    (random sentences would be sub-topics the corpus does not cover, which the pipeline refuses)."""
    seed = _seed_of(request.get("messages", request.get("prompt", "")))
    fmt = request.get("format")
    if isinstance(fmt, dict):
        value = instance_for(fmt, seed)
        titles = _listed_titles(request)
        if isinstance(value, dict) and isinstance(value.get("subtopics"), list) and titles:
            n = len(value["subtopics"])
            value["subtopics"] = (titles + value["subtopics"])[:n]
        return json.dumps(value, ensure_ascii=False)
    if fmt == "json":
        return json.dumps({"回答": SENTENCES[seed % len(SENTENCES)]}, ensure_ascii=False)
    rng = random.Random(seed)
    return PARAGRAPH + "".join(rng.sample(SENTENCES, 2))


def _prompt_chars(request: dict) -> int:
    if "messages" in request:
        return sum(len(str(m.get("content", ""))) for m in request.get("messages") or [])
    return len(str(request.get("prompt", ""))) + len(str(request.get("system", "")))


def _prompt_text(request: dict) -> str:
    """The chat as a server would lay it out for the model: role and content of each message, in order."""
    if "messages" in request:
        return "".join(f"<{m.get('role', '')}>{m.get('content', '')}" for m in request.get("messages") or [])
    return f"<system>{request.get('system', '')}<user>{request.get('prompt', '')}"


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _full_name(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class FakeOllama:
    """A scripted Ollama on 127.0.0.1. See the module docstring."""

    def __init__(
        self,
        models: list[str] | None = None,
        *,
        port: int = 0,
        delay_s: float = 0.0,
        fail_every: int = 0,
        chunk_chars: int = 4,
        prefix_cache: bool = False,
    ) -> None:
        self.models: list[str] = list(models if models is not None else ["qwen2.5:7b"])
        self.delay_s = delay_s  # sleep before every chat/generate reply (benchmarks)
        self.fail_every = fail_every  # every Nth chat request answers HTTP 500 (0 = never)
        self.chunk_chars = chunk_chars  # characters per streamed chunk
        self.prefix_cache = prefix_cache  # count prompt tokens as a server reusing cached prefixes does
        self._prompts: list[str] = []
        # responder(request) -> the content, a Reply (content and done_reason), or None for the default
        self.responder: Callable[[dict], str | Reply | None] | None = None
        self._port = port
        self._lock = threading.Lock()
        self._script: deque[Action] = deque()
        self._requests: list[dict] = []
        self._calls: list[tuple[str, str]] = []
        self._chat_count = 0
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ----------------------------------------------------------------------------

    def script(self, *actions: Action) -> None:
        """Queue actions; each chat/generate request consumes one before the responders apply."""
        with self._lock:
            self._script.extend(actions)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[dict]:
        """Bodies of the chat/generate requests received so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, including /api/tags and /api/version."""
        with self._lock:
            return list(self._calls)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Return once every connection made so far has been handled: none waits to be accepted and
        none is being read or answered. After a client process is killed, its requests are then all in
        `requests` (or, cut short, left out): none is still on its way in to be counted after a
        `reset()`. Raises TimeoutError when the server stays busy for `timeout` s."""
        import select

        server = self._server
        if server is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with server.fake_lock:
                busy = server.active > 0
            if not busy and not select.select([server.socket], [], [], 0)[0]:
                return
            time.sleep(0.005)
        raise TimeoutError(f"fake Ollama still busy after {timeout:g} s ({server.active} connections)")

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._calls.clear()
            self._prompts.clear()
            self._chat_count = 0

    def has_model(self, name: str) -> bool:
        return any(_full_name(name) == _full_name(m) for m in self.models)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("fake Ollama is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeOllama:
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", self._port), handler)
        server.fake_lock = threading.Lock()
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in Sleep/delay
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (process mode)."""
        self.start()
        try:
            while not self._stopping.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # -- used by the handler --------------------------------------------------------------------

    def _record(self, method: str, path: str, body: dict | None) -> Action | None:
        """Log the call; for chat/generate also take the next scripted (or fail-every) action."""
        with self._lock:
            self._calls.append((method, path))
            if body is None:
                return None
            self._requests.append(body)
            self._chat_count += 1
            if self._script:
                return self._script.popleft()
            if self.fail_every and self._chat_count % self.fail_every == 0:
                return Status(500, f"scripted failure of request {self._chat_count}")
        return None

    def _prompt_counts(self, request: dict) -> tuple[int, int]:
        """(prompt tokens evaluated, prompt tokens reused from the cache) of a request: without
        `prefix_cache` every character counts as evaluated."""
        if not self.prefix_cache:
            return max(1, _prompt_chars(request)), 0
        text = _prompt_text(request)
        with self._lock:
            shared = max((_common_prefix(text, p) for p in self._prompts), default=0)
            self._prompts.append(text)
        shared = min(shared, len(text) - 1)  # a server always evaluates at least the last token
        return max(1, len(text) - shared), max(0, shared)

    def _content_for(self, request: dict) -> str | Reply:
        if self.responder is not None:
            answer = self.responder(request)
            if answer is not None:
                return answer
        return default_content(request)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in Sleep must not keep the process alive
    block_on_close = False
    active = 0  # connections taken from the listening socket and not yet closed (`FakeOllama.wait_idle`)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Counted before the accept: a connection is always either waiting to be accepted (the
        listening socket is readable) or counted, never neither."""
        with self.fake_lock:
            self.active += 1
        try:
            return super().get_request()
        except BaseException:
            with self.fake_lock:
                self.active -= 1
            raise

    def shutdown_request(self, request: Any) -> None:
        """Every accepted connection ends here once (after its handler, or when it was refused)."""
        try:
            super().shutdown_request(request)
        finally:
            with self.fake_lock:
                self.active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, pool shutdown) are normal here; other errors are printed."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOllama  # set on the per-server subclass
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as Ollama (Go net/http) does
    server_version = "FakeOllama"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    # -- plumbing -------------------------------------------------------------------------------

    def _body(self) -> dict | None:
        """The request's JSON body; None when the client hung up before all of it arrived. httpx sends
        the headers and the body in two writes, so a client killed between them (the fault tests'
        SIGKILL, more often under load) leaves headers with no body: that is no request the model saw."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            return None
        if not raw:
            return {}
        data = json.loads(raw)
        return data if isinstance(data, dict) else {}

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _chunk(self, payload: dict) -> None:
        data = (json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8")
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Close the connection abruptly, so the client sees a cut, not a clean end."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routes ---------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        self.fake._record("GET", path, None)
        if path == "/api/version":
            self._json(200, {"version": VERSION})
        elif path == "/api/tags":
            self._json(200, {"models": [self._model_entry(m) for m in self.fake.models]})
        elif path in ("/", ""):
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._error(404, "404 page not found")

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        try:
            body = self._body()
        except (ValueError, UnicodeDecodeError):
            self.fake._record("POST", path, None)
            self._error(400, "invalid character in request body")
            return
        if body is None:  # cut short: a call (in `calls`), not a request (not in `requests`); no one to answer
            self.fake._record("POST", path, None)
            self.close_connection = True
            return
        if path == "/api/show":
            self.fake._record("POST", path, None)
            name = str(body.get("model") or body.get("name") or "")
            if not self.fake.has_model(name):
                self._error(404, f"model '{name}' not found")
                return
            self._json(200, self._show(name))
        elif path in ("/api/chat", "/api/generate"):
            action = self.fake._record("POST", path, body)
            try:
                self._generate(path, body, action)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout); nothing to tell it
        else:
            self.fake._record("POST", path, None)
            self._error(404, "404 page not found")

    def _model_entry(self, name: str) -> dict:
        full = _full_name(name)
        return {
            "name": full,
            "model": full,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 4_683_087_332,
            "digest": hashlib.sha256(full.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen2",
                "families": ["qwen2"],
                "parameter_size": "7.6B",
                "quantization_level": "Q4_K_M",
            },
        }

    def _show(self, name: str) -> dict:
        return {
            "modelfile": f"FROM {_full_name(name)}\n",
            "parameters": "temperature 0.7",
            "template": "{{ .Prompt }}",
            "details": self._model_entry(name)["details"],
            "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
            "capabilities": ["completion"],
        }

    def _generate(self, path: str, body: dict, action: Action | None) -> None:
        fake = self.fake
        chat = path == "/api/chat"
        model = str(body.get("model") or "")
        if isinstance(action, ModelMissing) or not fake.has_model(model):
            self._error(404, f'model "{model}" not found, try pulling it first')
            return
        if isinstance(action, Status):
            self._error(action.code, action.message)
            return
        if isinstance(action, Drop):
            self._abort()
            return
        if isinstance(action, Garbage):
            data = action.body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        started = time.monotonic()
        fake._sleep(fake.delay_s)
        if isinstance(action, Sleep):
            fake._sleep(action.seconds)
        if fake._stopping.is_set():
            self._abort()
            return
        answer = action if isinstance(action, Reply) else fake._content_for(body)
        content, reason = (answer.content, answer.done_reason) if isinstance(answer, Reply) else (answer, "stop")
        stream = body.get("stream", True) is not False  # Ollama streams unless told not to
        evaluated, cached = fake._prompt_counts(body)
        final = {
            "done": True,
            "done_reason": reason,
            "total_duration": int((time.monotonic() - started) * 1e9) + 1_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": evaluated,
            **({"prompt_cached_count": cached} if fake.prefix_cache else {}),
            "prompt_eval_duration": 1_000_000,
            "eval_count": max(1, len(content)),
            "eval_duration": 1_000_000,
        }

        def piece(text: str, done: bool) -> dict:
            head: dict[str, Any] = {"model": model, "created_at": _now()}
            if chat:
                head["message"] = {"role": "assistant", "content": text}
            else:
                head["response"] = text
            head["done"] = done
            return head

        if not stream:
            payload = piece(content, True) | final
            if isinstance(action, CutStream):
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self._abort()
                return
            self._json(200, payload)
            return

        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        step = max(1, fake.chunk_chars)
        parts = [content[i : i + step] for i in range(0, len(content), step)] or [""]
        for n, text in enumerate(parts):
            if isinstance(action, CutStream) and n >= action.after_chunks:
                break
            self._chunk(piece(text, False))
        if isinstance(action, CutStream):  # never send `done`, even when there are fewer chunks
            if action.clean:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            else:
                self._abort()
            return
        self._chunk(piece("", True) | final)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake Ollama server for tests and benchmarks.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to sleep before every reply")
    parser.add_argument("--model", action="append", help="model present (repeatable; default qwen2.5:7b)")
    parser.add_argument("--fail-every", type=int, default=0, help="every Nth chat request answers HTTP 500")
    args = parser.parse_args(argv)
    fake = FakeOllama(
        args.model or ["qwen2.5:7b"], port=args.port, delay_s=args.delay, fail_every=args.fail_every
    )
    fake.start()
    print(f"READY {fake.url}", flush=True)
    fake.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
