"""A fake OpenAI-compatible server (vLLM, llama.cpp, DeepSeek ...): the real HTTP protocol, scripted replies.

Tests talk to it over real sockets, so status codes, Retry-After, server-sent events, stream cuts and
timeouts go through the same code as in production; nothing is monkeypatched. It follows the fake
Ollama (`tests/fake_ollama.py`) and builds its default answers the same way.

In-process use::

    with FakeOpenAI(models=["qwen2.5-7b-instruct"], api_key="sk-test") as fake:
        fake.script(RateLimit(retry_after="0"), Reply("{not json"))
        llm = OpenAICompatLLM(fake.base_url, "qwen2.5-7b-instruct", Options(), environ={"OPENAI_API_KEY": "sk-test"})
        ...
        assert len(fake.requests) == 3

As a process (CLI subprocess tests, benchmarks)::

    python tests/fake_openai.py --port 0 --delay 0.2 --model qwen2.5-7b-instruct [--api-key K] [--no-json-schema]

prints ``READY http://127.0.0.1:PORT/v1`` once listening and serves until killed.

Routes: `GET /v1/models`, `POST /v1/chat/completions` (non-streaming, or SSE with `stream: true`,
`usage` in the last chunk when `stream_options.include_usage`). Behaviour of a chat request, in order:
the API key (when one is set: 401 otherwise, echoing the key it got, as careless servers do), the
model (404 as vLLM words it), the next scripted action, `json_schema` support (400 as DeepSeek words
it when off), then the answer: `responder(request)` if set and it returns a string, else a
deterministic valid instance of the requested schema (`json_schema`; for `json_object`, the schema
written after `JSON Schema：` in the last user message). `max_tokens` is honoured (one character = one
token, as `usage` counts): a longer answer is cut and ends with `finish_reason: "length"`.

Stdlib only (plus the fake Ollama's answer builder), importable without pytest.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_ollama import _common_prefix, default_content  # noqa: E402

SCHEMA_MARK = "JSON Schema："

# ---------------------------------------------------------------------------------------------
# Scripted actions
# ---------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """Answer with exactly this assistant content (malformed JSON, English ...) and finish reason."""

    content: str
    finish_reason: str = "stop"


@dataclass
class Length:
    """The default answer cut in half, with `finish_reason: "length"` (max_tokens reached)."""


@dataclass
class Sleep:
    """Sleep, then answer as the default responder would (client timeouts, slow servers)."""

    seconds: float


@dataclass
class Status:
    """An HTTP error status with an OpenAI-style `{"error": {"message", "type", "code"}}` body."""

    code: int = 500
    message: str = "boom"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RateLimit:
    """HTTP 429 with `Retry-After` (seconds or an HTTP date; None: no header)."""

    retry_after: str | None = "0"
    message: str = "Rate limit reached for requests"


@dataclass
class CutStream:
    """Streaming: send `after_chunks` SSE chunks, then close without a finish_reason or `[DONE]`
    (`clean=True` ends the chunked body properly, as a proxy timing out might). Non-streaming: send
    the headers and half of the body, then close."""

    after_chunks: int = 2
    clean: bool = False


@dataclass
class Garbage:
    """HTTP 200 with a body that is not OpenAI JSON (a captive portal, a proxy's HTML page)."""

    body: str = "<html><body>502 Bad Gateway</body></html>"


@dataclass
class Drop:
    """Close the socket without sending any response."""


Action = Reply | Length | Sleep | Status | RateLimit | CutStream | Garbage | Drop


def schema_of(request: dict) -> dict | None:
    """The JSON schema the request asks for: `response_format.json_schema.schema`, or for `json_object`
    the one written into the last user message after `JSON Schema：`."""
    fmt = request.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else None
    if fmt.get("type") == "json_object":
        users = [m for m in request.get("messages") or [] if m.get("role") == "user"]
        text = str(users[-1].get("content", "")) if users else ""
        if SCHEMA_MARK in text:
            try:
                schema, _ = json.JSONDecoder().raw_decode(text.rsplit(SCHEMA_MARK, 1)[1].strip())
            except ValueError:
                return None
            return schema if isinstance(schema, dict) else None
    return None


def answer_for(request: dict) -> str:
    """The default answer: the fake Ollama's, for the same messages and schema."""
    schema = schema_of(request)
    fmt: object = schema if schema is not None else ("json" if request.get("response_format") else None)
    return default_content({"messages": request.get("messages") or [], "format": fmt})


def _prompt_chars(request: dict) -> int:
    return sum(len(str(m.get("content", ""))) for m in request.get("messages") or [])


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class FakeOpenAI:
    """A scripted OpenAI-compatible server on 127.0.0.1. See the module docstring."""

    def __init__(
        self,
        models: list[str] | None = None,
        *,
        port: int = 0,
        api_key: str | None = None,
        json_schema: bool = True,
        usage: bool = True,
        delay_s: float = 0.0,
        fail_every: int = 0,
        chunk_chars: int = 4,
        prefix_cache: bool = False,
    ) -> None:
        self.models: list[str] = list(models if models is not None else ["qwen2.5-7b-instruct"])
        # True: `usage.prompt_tokens_details.cached_tokens` is the prefix shared with an earlier request
        # (one token per character of the chat), as servers that reuse cached prompts report it
        self.prefix_cache = prefix_cache
        self._prompts: list[str] = []
        self.api_key = api_key  # None: no key needed (a local server)
        self.json_schema = json_schema  # False: 400 for response_format json_schema (DeepSeek, Moonshot)
        self.usage = usage  # False: replies carry no `usage` (some proxies)
        self.delay_s = delay_s
        self.fail_every = fail_every  # every Nth chat request answers HTTP 500 (0 = never)
        self.chunk_chars = chunk_chars
        self.responder: Callable[[dict], str | None] | None = None
        self._port = port
        self._lock = threading.Lock()
        self._script: deque[Action] = deque()
        self._requests: list[dict] = []
        self._calls: list[tuple[str, str]] = []
        self._auth: list[str | None] = []
        self._chat_count = 0
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ----------------------------------------------------------------------------

    def script(self, *actions: Action) -> None:
        """Queue actions; each chat request that passes the key and model checks consumes one."""
        with self._lock:
            self._script.extend(actions)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[dict]:
        """Bodies of the chat requests received so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, /v1/models included."""
        with self._lock:
            return list(self._calls)

    @property
    def auth_headers(self) -> list[str | None]:
        """The Authorization header of every request, in order (None when absent)."""
        with self._lock:
            return list(self._auth)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._calls.clear()
            self._auth.clear()
            self._prompts.clear()
            self._chat_count = 0

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("fake OpenAI server is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", self._port), handler)
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self.start()
        try:
            while not self._stopping.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # -- used by the handler --------------------------------------------------------------------

    def _seen(self, method: str, path: str, auth: str | None) -> None:
        with self._lock:
            self._calls.append((method, path))
            self._auth.append(auth)

    def _take(self, body: dict) -> Action | None:
        with self._lock:
            self._requests.append(body)
            self._chat_count += 1
            if self._script:
                return self._script.popleft()
            if self.fail_every and self._chat_count % self.fail_every == 0:
                return Status(500, f"scripted failure of request {self._chat_count}")
        return None

    def _cached(self, request: dict, prompt_tokens: int) -> int:
        """The longest prefix (in characters of the messages' contents) the request shares with an earlier one."""
        text = "\x00".join(str(m.get("content", "")) for m in request.get("messages") or [])
        with self._lock:
            shared = max((_common_prefix(text, p) for p in self._prompts), default=0)
            self._prompts.append(text)
        return max(0, min(shared, prompt_tokens - 1))

    def _content_for(self, request: dict) -> str:
        if self.responder is not None:
            answer = self.responder(request)
            if answer is not None:
                return answer
        return answer_for(request)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    # -- plumbing -------------------------------------------------------------------------------

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": status}}, headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        self._chunk(f"data: {text}\n\n".encode())

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _authorized(self) -> bool:
        """Check the key; a wrong one is echoed back in full, as the worst servers do."""
        auth = self.headers.get("Authorization")
        key = self.fake.api_key
        if key is None or auth == f"Bearer {key}":
            return True
        given = (auth or "").removeprefix("Bearer ").strip()
        message = f"Incorrect API key provided: {given}" if given else "You didn't provide an API key."
        self._error(401, message, "invalid_request_error")
        return False

    # -- routes ---------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        self.fake._seen("GET", path, self.headers.get("Authorization"))
        if path != "/v1/models":
            self._error(404, f"Not Found: {path}", "not_found_error")
            return
        if not self._authorized():
            return
        data = [{"id": m, "object": "model", "created": 1735689600, "owned_by": "fake"} for m in self.fake.models]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        self.fake._seen("POST", path, self.headers.get("Authorization"))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path != "/v1/chat/completions":
            self._error(404, f"Not Found: {path}", "not_found_error")
            return
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            self._error(400, "invalid JSON body")
            return
        if not isinstance(body, dict):
            self._error(400, "body must be a JSON object")
            return
        if not self._authorized():
            return
        model = str(body.get("model") or "")
        if model not in self.fake.models:
            self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        action = self.fake._take(body)
        try:
            self._complete(body, action)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _complete(self, body: dict, action: Action | None) -> None:
        fake = self.fake
        if isinstance(action, Status):
            self._error(action.code, action.message, "server_error" if action.code >= 500 else "invalid_request_error",
                        action.headers)
            return
        if isinstance(action, RateLimit):
            headers = {"Retry-After": action.retry_after} if action.retry_after is not None else {}
            self._error(429, action.message, "rate_limit_exceeded", headers)
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
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema" and not fake.json_schema:
            self._error(400, "This response_format type is unavailable now")
            return
        fake._sleep(fake.delay_s)
        if isinstance(action, Sleep):
            fake._sleep(action.seconds)
        if fake._stopping.is_set():
            self._abort()
            return
        finish = "stop"
        if isinstance(action, Reply):
            content, finish = action.content, action.finish_reason
        else:
            content = fake._content_for(body)
            if isinstance(action, Length):
                content, finish = content[: max(1, len(content) // 2)], "length"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and len(content) > limit:
            content, finish = content[:limit], "length"
        usage = {
            "prompt_tokens": max(1, _prompt_chars(body)),
            "completion_tokens": len(content),
            "total_tokens": max(1, _prompt_chars(body)) + len(content),
        }
        if fake.prefix_cache:
            usage["prompt_tokens_details"] = {"cached_tokens": fake._cached(body, usage["prompt_tokens"])}
        created = int(time.time())
        head = {"id": f"chatcmpl-{fake._chat_count}", "created": created, "model": body.get("model")}

        if not body.get("stream"):
            payload = {
                **head,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            }
            if fake.usage:
                payload["usage"] = usage
            if isinstance(action, CutStream):
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self._abort()
                return
            self._json(200, payload)
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = {**head, "object": "chat.completion.chunk"}
        self._event({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        step = max(1, fake.chunk_chars)
        parts = [content[i : i + step] for i in range(0, len(content), step)] or [""]
        for n, text in enumerate(parts):
            if isinstance(action, CutStream) and n >= action.after_chunks:
                break
            self._event({**chunk, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
        if isinstance(action, CutStream):
            if action.clean:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            else:
                self._abort()
            return
        self._chunk(b": keep-alive\n\n")  # a comment line is legal SSE; servers send them, clients skip them
        self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if fake.usage and (body.get("stream_options") or {}).get("include_usage"):
            self._event({**chunk, "choices": [], "usage": usage})
        self._event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server for tests and benchmarks.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to sleep before every reply")
    parser.add_argument("--model", action="append", help="model served (repeatable; default qwen2.5-7b-instruct)")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument("--no-json-schema", action="store_true", help="reject response_format json_schema (HTTP 400)")
    parser.add_argument("--fail-every", type=int, default=0, help="every Nth chat request answers HTTP 500")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        args.model or ["qwen2.5-7b-instruct"], port=args.port, api_key=args.api_key,
        json_schema=not args.no_json_schema, delay_s=args.delay, fail_every=args.fail_every,
    )
    fake.start()
    print(f"READY {fake.base_url}", flush=True)
    fake.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
