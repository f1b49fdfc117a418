"""The OpenAI-compatible engine (`--llm openai`): one slot per `POST {base_url}/chat/completions`.

For any server that speaks the OpenAI chat-completions protocol: vLLM, llama.cpp's `llama-server`,
LM Studio, Ollama's `/v1`, and hosted APIs (DeepSeek, DashScope, Moonshot, OpenAI). It keeps the
contract of the Ollama engine (`pipeline.llm.ollama`), so the run store records, caches and resumes
its calls the same way:

* structured output by `response_format` `json_schema` (the slot model's inlined schema). A server that
  rejects that (HTTP 400/422: DeepSeek and Moonshot only know `json_object`) is asked again with
  `json_object` and the schema written into the prompt, and the engine remembers the fallback for the
  rest of the run, so each server costs at most one rejected request;
* bad *output* costs one slot: repaired (json-repair), else retried once with the error quoted back,
  else a `degraded` completion with `value=None`, never an exception;
* a failing *transport* (refused, timeouts, 5xx, a stream cut before `[DONE]`, a body that is not
  JSON) and HTTP 429 are retried with backoff (429 waits what `Retry-After` says, capped), then raised
  as a one-line `LLMError`; 401/403 (names the variable, never the key), 404 (model or endpoint) and
  other 4xx are raised at once, since the same request would fail again.

`max_tokens`, `temperature`, `seed` and a client timeout go with every request; the server's context
window is not a request field here, so the prompt is budgeted against `context_tokens`. Tokens come
from the reply's `usage` (streaming asks for it with `stream_options.include_usage`).

Why plain httpx, not the `openai` SDK: httpx is already a dependency and is all the protocol needs (one
POST, one GET, SSE lines). The SDK would add a distribution and its own retry loop and timeouts that
hide the 429 `Retry-After`, the status codes and the stream-cut cases this module must tell apart,
and it costs ~0.3 s to import.

The API key is read from the environment variable *named* by `api_key_env` when the engine is built.
It goes only into the `Authorization` header: not into the cache identity, not into any message
(server error texts are quoted with the key blanked out; a 401 body is not quoted at all).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pipeline.llm.base import ChatMessage, Completion, LLMError, Options, PromptTooLarge, T, Task
from pipeline.llm.budget import clip_to_tokens, estimate_tokens, prompt_budget
from pipeline.llm.validate import json_schema_for, parse_reply
from pipeline.models import JSONObject

if TYPE_CHECKING:
    import httpx

FORMAT_VERSION = 1  # bump when the request shape (response_format, retry prompt, schema note) changes answers
CHECK_TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 60.0  # the longest a 429's Retry-After is honoured before the next attempt
DEFAULT_KEY_ENV = "OPENAI_API_KEY"

# Written after the last user message when the server only knows `json_object`: the schema the grammar
# would otherwise have enforced. Chinese, like every prompt; `JSON Schema：` stays on one line.
SCHEMA_NOTE = "\n\n只输出一个JSON对象，不要输出其他文字。它必须符合以下 JSON Schema：{schema}"
RETRY_PROMPT = (
    "你上一次的回答无效：{error}。请重新回答，只输出一个符合给定JSON结构的有效JSON对象，所有文字内容都用简体中文书写。"
)
_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.S)  # reasoning models' preamble, not the answer


def normalize_base_url(url: str) -> str:
    """`127.0.0.1:8000/v1/` → `http://127.0.0.1:8000/v1`, without user:password, query or fragment:
    this is the address shown in messages and recorded with the run (`config.base_url` refuses
    credentials before a run starts; this is the engine's own guard)."""
    url = (url or "http://127.0.0.1:8000/v1").strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _one_line(text: object, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Reply:
    content: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    usage: bool  # the counts came from the server's `usage`, not from our estimate
    cached: int = 0  # prompt tokens the server reused from its prompt cache (not evaluated again)


def _cached_tokens(usage: Mapping[str, object], prompt_tokens: int, timings: object) -> int:
    """Prompt tokens a server reports it reused from its cache (at most `prompt_tokens`, the usage's
    count): OpenAI's `usage.prompt_tokens_details.cached_tokens`, or llama.cpp's `timings.cache_n`."""
    details = usage.get("prompt_tokens_details")
    for value in (details.get("cached_tokens") if isinstance(details, dict) else None,
                  timings.get("cache_n") if isinstance(timings, dict) else None):
        if isinstance(value, int) and value > 0:
            return min(value, prompt_tokens)
    return 0


class _Transient(Exception):
    """A transport fault worth retrying; the message is the cause shown to the user."""

    def __init__(self, cause: str, *, refused: bool = False) -> None:
        super().__init__(cause)
        self.refused = refused


class _RateLimited(_Transient):
    def __init__(self, cause: str, retry_after: float | None) -> None:
        super().__init__(cause)
        self.retry_after = retry_after


class _Unauthorized(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _ModelMissing(Exception):
    pass


class _NoEndpoint(Exception):
    pass


class _Rejected(Exception):
    """HTTP 4xx other than the ones above: the same request would fail again."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class OpenAICompatLLM:
    """`LLM` implementation for an OpenAI-compatible server. Thread-safe: one client serves all workers."""

    provider = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        options: Options,
        *,
        api_key_env: str = DEFAULT_KEY_ENV,
        context_tokens: int | None = None,
        stream: bool = False,
        max_retries: int = 2,
        backoff_s: float = 1.0,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.options = options
        self.api_key_env = api_key_env
        self.context_tokens = context_tokens or options.num_ctx
        self.stream = stream
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self._key = (os.environ if environ is None else environ).get(api_key_env) or None
        self._json_object_only = False  # set once the server rejected json_schema: remembered for the run
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatLLM({self.base_url!r}, {self.model!r}, key from ${self.api_key_env})"

    # ------------------------------------------------------------------------------------------
    # Protocol
    # ------------------------------------------------------------------------------------------

    def cache_identity(self) -> JSONObject:
        """The server is part of the key: llama.cpp answers with whatever it loaded, whatever `model`
        says, so two servers behind the same model name are not the same model. The key is not."""
        return {
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.model,
            "options": {
                "max_tokens": self.options.num_predict,
                "temperature": self.options.temperature,
                "seed": self.options.seed,
                "context_tokens": self.context_tokens,
            },
            "format_version": FORMAT_VERSION,
        }

    def complete(self, task: Task[T]) -> Completion[T]:
        started = time.monotonic()
        done: Completion[T] = Completion(value=None)
        schema = json_schema_for(task.schema)
        messages = [m.copy() for m in task.messages]
        clip_at = _last_user(messages)

        raw = self._ask(task, messages, clip_at, schema, done)
        value, repaired, error = parse_reply(raw, task.schema)
        if error is not None:
            done.repaired = True
            retry = messages + [
                {"role": "assistant", "content": clip_to_tokens(raw, max(64, self.options.num_predict))},
                {"role": "user", "content": RETRY_PROMPT.format(error=error)},
            ]
            try:
                raw = self._ask(task, retry, clip_at, schema, done)
            except PromptTooLarge:  # bad output is never fatal: without room for a retry, degrade this slot
                done.degraded = f"invalid output, no room in context_tokens={self.context_tokens} for a retry: {error}"
                done.invalid = error
                done.raw = raw
                done.seconds = time.monotonic() - started
                return done
            value, repaired, error = parse_reply(raw, task.schema)
        done.value = value
        done.repaired = done.repaired or repaired
        if error is not None:
            done.degraded = f"invalid output after repair and retry: {error}"
            done.invalid = error
        done.raw = raw
        done.seconds = time.monotonic() - started
        return done

    def check_model(self) -> None:
        """Fail fast, before a run starts: the server is down, refuses the key, or does not serve the
        model. A server without `/models` (some proxies) is given the benefit of the doubt: its first
        chat request says what is wrong."""
        import httpx

        url = f"{self.base_url}/models"
        try:
            with httpx.Client(timeout=CHECK_TIMEOUT_S, headers=self._headers(), verify=self._verify()) as client:
                reply = client.get(url)
        except httpx.HTTPError as err:
            raise LLMError(
                f"cannot reach the OpenAI-compatible server at {self.base_url}: {_cause(err)}; "
                "start it or set base_url (--base-url)"
            ) from err
        if reply.status_code in (401, 403):
            raise LLMError(self._auth_message(reply.status_code))
        if reply.status_code == 404:
            return
        if reply.status_code >= 400:
            raise LLMError(
                f"{self.base_url} answered HTTP {reply.status_code} to /models: {self._server_message(reply)}"
            )
        try:
            data = reply.json()
            ids = [str(m["id"]) for m in data["data"]]
        except (ValueError, KeyError, TypeError) as err:
            raise LLMError(
                f"{url} did not answer like an OpenAI-compatible server; base_url is usually the server's address ending in /v1"
            ) from err
        if ids and self.model not in ids:
            shown = ", ".join(ids[:10]) + (f" … ({len(ids) - 10} more)" if len(ids) > 10 else "")
            raise LLMError(f"model '{self.model}' is not served at {self.base_url}; it serves: {shown}")

    # ------------------------------------------------------------------------------------------
    # One logical request: format fallback, budget, transport retries
    # ------------------------------------------------------------------------------------------

    def _ask(self, task: Task[T], messages: list[ChatMessage], clip_at: int | None, schema: JSONObject, done: Completion[T]) -> str:
        """Send `messages` for a reply to `schema`, with json_schema first unless this server refused it."""
        if not self._json_object_only:
            prepared = self._fit(task, messages, clip_at, done.notes, reserve=0)
            fmt: JSONObject = {"type": "json_schema", "json_schema": {"name": task.schema.__name__, "schema": schema, "strict": False}}
            try:
                return self._chat(task, prepared, fmt, done)
            except _Rejected as first:
                if first.status not in (400, 422):
                    raise LLMError(f"{task.step}: {self.base_url} rejected the request: {first}") from first
                rejected = str(first)
            try:
                raw = self._ask_json_object(task, messages, clip_at, schema, done)
            except _Rejected as second:
                raise LLMError(
                    f"{task.step}: {self.base_url} rejected the request: {second} (with json_schema: {rejected})"
                ) from second
            with self._lock:
                first_time = not self._json_object_only
                self._json_object_only = True
            if first_time:
                done.notes.append(
                    f"{self.base_url} rejected response_format json_schema ({rejected}); using json_object for this run"
                )
            return raw
        try:
            return self._ask_json_object(task, messages, clip_at, schema, done)
        except _Rejected as err:
            raise LLMError(f"{task.step}: {self.base_url} rejected the request: {err}") from err

    def _ask_json_object(
        self, task: Task[T], messages: list[ChatMessage], clip_at: int | None, schema: JSONObject, done: Completion[T]
    ) -> str:
        """`json_object` guarantees JSON, not its shape: the schema goes after the last user message,
        where it does not break a cached prompt prefix, and is never clipped away."""
        note = SCHEMA_NOTE.format(schema=json.dumps(schema, ensure_ascii=False, separators=(",", ":")))
        prepared = self._fit(task, messages, clip_at, done.notes, reserve=estimate_tokens(note))
        if clip_at is not None:
            prepared[clip_at]["content"] = str(prepared[clip_at].get("content", "")) + note
        else:
            prepared.append({"role": "user", "content": note.strip()})
        return self._chat(task, prepared, {"type": "json_object"}, done)

    def _fit(self, task: Task[T], messages: list[ChatMessage], clip_at: int | None, notes: list[str], *, reserve: int) -> list[ChatMessage]:
        """Clip the task's last user message so the estimate (which over-counts) fits `context_tokens`
        less the reply and `reserve`; a server would otherwise reject the request or drop the start."""
        budget = prompt_budget(self.context_tokens, self.options.num_predict) - reserve
        sizes = [estimate_tokens(str(m.get("content", ""))) for m in messages]
        total = sum(sizes)
        out = [m.copy() for m in messages]
        if total <= budget:
            return out
        room = budget - (total - sizes[clip_at]) if clip_at is not None else 0
        if clip_at is None or room < 1:
            raise PromptTooLarge(
                f"{task.step}: prompt of ~{total + reserve} tokens cannot fit context_tokens={self.context_tokens} "
                f"(max_tokens={self.options.num_predict}) even with the last user message clipped; raise context_tokens"
            )
        out[clip_at]["content"] = clip_to_tokens(str(out[clip_at].get("content", "")), room)
        after = sum(estimate_tokens(str(m.get("content", ""))) for m in out)
        notes.append(f"prompt clipped from ~{total} to ~{after} tokens to fit context_tokens={self.context_tokens}")
        return out

    def _chat(self, task: Task[T], messages: list[ChatMessage], fmt: JSONObject, done: Completion[T]) -> str:
        """One request with retries; adds counts to `done` and returns the reply's text."""
        attempts = self.max_retries + 1
        last: _Transient | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self._wait(last, attempt))
            done.requests += 1
            try:
                reply = self._send(messages, fmt)
            except _Unauthorized as err:
                raise LLMError(f"{task.step}: {self._auth_message(err.status)}") from err
            except _ModelMissing as err:
                raise LLMError(f"{task.step}: model '{self.model}' is not served at {self.base_url} ({err})") from err
            except _NoEndpoint as err:
                raise LLMError(
                    f"{task.step}: no chat-completions endpoint at {self.base_url}/chat/completions ({err}); "
                    "base_url is usually the server's address ending in /v1"
                ) from err
            except _Transient as err:
                last = err
                continue
            done.prompt_tokens += reply.prompt_tokens
            if reply.usage:  # what the server evaluated: less than sent when it reused a cached prefix
                done.prompt_eval_tokens = (done.prompt_eval_tokens or 0) + reply.prompt_tokens - reply.cached
            done.completion_tokens += reply.completion_tokens
            done.truncated = reply.finish_reason == "length"
            if done.truncated:
                done.notes.append(f"reply cut at max_tokens={self.options.num_predict}")
            if not reply.usage and "server sent no usage; tokens estimated" not in done.notes:
                done.notes.append("server sent no usage; tokens estimated")
            return reply.content
        if isinstance(last, _RateLimited):
            raise LLMError(
                f"{task.step}: {self.base_url} is rate limiting (HTTP 429) after {attempts} attempts: {last}; "
                "wait, lower --concurrency or raise --max-retries"
            )
        if last is not None and last.refused:
            raise LLMError(
                f"{task.step}: cannot reach the OpenAI-compatible server at {self.base_url} after {attempts} attempts: {last}"
            )
        raise LLMError(f"{task.step}: {self.base_url} failed after {attempts} attempts: {last}")

    def _wait(self, last: _Transient | None, attempt: int) -> float:
        """Seconds before attempt `attempt` (1-based retry): what a 429 asked for, else full jitter."""
        if isinstance(last, _RateLimited) and last.retry_after is not None:
            return min(MAX_RETRY_AFTER_S, last.retry_after)
        return random.uniform(0, self.backoff_s * 2 ** (attempt - 1))

    # ------------------------------------------------------------------------------------------
    # HTTP
    # ------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def _verify(self) -> bool:
        """Plain-http servers (the usual local ones) need no CA bundle; loading one costs ~0.1 s."""
        return not self.base_url.startswith("http://")

    def _get_client(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                timeout = httpx.Timeout(self.options.timeout_s, connect=min(10.0, self.options.timeout_s))
                self._client = httpx.Client(timeout=timeout, headers=self._headers(), verify=self._verify())
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _auth_message(self, status: int) -> str:
        var = f"${self.api_key_env}"
        if self._key is None:
            return f"{self.base_url} wants an API key (HTTP {status}) and {var} is not set; set it, or name another variable with api_key_env"
        return f"{self.base_url} refused the API key in {var} (HTTP {status}); check the key, or name another variable with api_key_env"

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _server_message(self, reply: httpx.Response) -> str:
        """The error text of an OpenAI-style body (`{"error": {"message"}}`, FastAPI's `detail`,
        llama.cpp's `{"error": {"message"}}`), one line, the key blanked out."""
        try:
            reply.read()
            data = reply.json()
        except (ValueError, UnicodeDecodeError):
            data = None
        text: object = reply.text if data is None else data
        if isinstance(data, dict):
            err = data.get("error", data.get("detail", data.get("message", data)))
            text = err.get("message", err) if isinstance(err, dict) else err
        return _one_line(self._redact(str(text)), 200) or reply.reason_phrase

    def _raise_for_status(self, reply: httpx.Response) -> None:
        status = reply.status_code
        if status < 400:
            return
        if status in (401, 403):
            raise _Unauthorized(status)  # the body is not quoted: servers echo (part of) the key there
        message = self._server_message(reply)
        low = message.lower()
        if status == 429:
            raise _RateLimited(message, _retry_after(reply.headers.get("retry-after")))
        if status == 404 or (status == 400 and "model" in low and ("not found" in low or "does not exist" in low)):
            if "model" in low:
                raise _ModelMissing(f"HTTP {status}: {message}")
            raise _NoEndpoint(f"HTTP {status}: {message}")
        if status in (408, 409) or status >= 500:
            raise _Transient(f"HTTP {status}: {message}")
        raise _Rejected(status, message)

    def _send(self, messages: list[ChatMessage], fmt: JSONObject) -> _Reply:
        """Send one HTTP request; map every failure to one of the exceptions above."""
        import httpx

        body: dict[str, object] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.options.num_predict,
            "temperature": self.options.temperature,
            "seed": self.options.seed,
            "stream": self.stream,
            "response_format": fmt,
        }
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        url = f"{self.base_url}/chat/completions"
        client = self._get_client()
        try:
            if not self.stream:
                reply = client.post(url, json=body)
                self._raise_for_status(reply)
                try:
                    data = reply.json()
                    choice = data["choices"][0]
                    content = (choice.get("message") or {}).get("content") or ""
                    finish = choice.get("finish_reason")
                except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
                    raise _Transient(f"reply is not OpenAI JSON ({_one_line(str(err), 120)})") from err
                return self._reply(content, data.get("usage"), finish, messages, data.get("timings"))
            with client.stream("POST", url, json=body) as reply:
                self._raise_for_status(reply)
                return self._read_stream(reply, messages)
        except httpx.TimeoutException as err:
            raise _Transient(f"{type(err).__name__} after {self.options.timeout_s:g} s") from err
        except httpx.RemoteProtocolError as err:
            raise _Transient(f"connection closed mid-reply ({_cause(err)})") from err
        except httpx.TransportError as err:
            raise _Transient(_cause(err), refused=isinstance(err, httpx.ConnectError)) from err

    def _read_stream(self, reply: httpx.Response, messages: list[ChatMessage]) -> _Reply:
        """Server-sent events: `data: {chunk}` lines, then `data: [DONE]`. A stream that ends without
        either a finish_reason or `[DONE]` was cut, and is retried like a dropped connection."""
        pieces: list[str] = []
        finish: str | None = None
        usage: dict[str, object] | None = None
        timings: dict[str, object] | None = None
        ended = False
        for line in reply.iter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, `: keep-alive` comments, `event:` lines
            data = line[5:].strip()
            if data == "[DONE]":
                ended = True
                break
            try:
                chunk = json.loads(data)
            except ValueError as err:
                raise _Transient(f"stream chunk is not JSON ({_one_line(data, 80)})") from err
            if not isinstance(chunk, dict):
                raise _Transient(f"stream chunk is not a JSON object ({_one_line(data, 80)})")
            if chunk.get("error"):
                error = chunk["error"]
                text = error.get("message", error) if isinstance(error, dict) else error
                raise _Transient(f"error in stream: {_one_line(self._redact(str(text)), 200)}")
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]
            if isinstance(chunk.get("timings"), dict):  # llama.cpp
                timings = chunk["timings"]
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    pieces.append(str(delta["content"]))
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
        if not ended and finish is None:
            raise _Transient(f"stream closed before [DONE] after {len(pieces)} chunks")
        return self._reply("".join(pieces), usage, finish, messages, timings)

    def _reply(self, content: str, usage: object, finish: str | None, messages: list[ChatMessage],
               timings: object = None) -> _Reply:
        content = _THINK.sub("", content or "", count=1)
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            prompt_tokens: int = usage["prompt_tokens"]
            return _Reply(content, prompt_tokens, int(usage.get("completion_tokens") or 0), finish, True,
                          _cached_tokens(usage, prompt_tokens, timings))
        prompt = sum(estimate_tokens(str(m.get("content", ""))) for m in messages)
        return _Reply(content, prompt, estimate_tokens(content), finish, False)




def _retry_after(value: str | None) -> float | None:
    """`Retry-After: 7` or an HTTP date → seconds to wait (None when absent or unreadable)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _last_user(messages: list[ChatMessage]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _cause(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return _one_line(text, 200)
