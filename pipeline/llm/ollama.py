"""The Ollama engine: one slot per `/api/chat` call, constrained by a JSON-schema `format`.

Two kinds of failure are kept apart on purpose:

* bad *output* (malformed JSON, wrong shape, English instead of Chinese) costs one slot: the reply is
  repaired if possible, else the model gets one retry with the error quoted back, else the completion
  comes back `degraded` with `value=None`. It never raises and is never silently dropped;
* a failing *transport* (server down, timeouts, HTTP 5xx, a stream cut before `done`, a body that is not
  JSON) is retried with exponential backoff and full jitter, then raised as a one-line `LLMError`,
  because no later slot will fare better. A missing model raises at once with the `ollama pull` hint.

The official `ollama` client is imported lazily (it pulls in httpx and pydantic models: CLI start-up
time matters). It is enough for every path: a stream cut shows up either as an httpx protocol error
(chunked body ended early) or as an iterator that ends without a `done` chunk, and both are detected
here, so no raw-httpx path is needed.

Several hosts (`ollama_host` as a list) are a `HostPool` (pipeline/llm/pool.py): each request goes to
the least busy healthy host; a host that fails with a connection error, HTTP 5xx or a non-Ollama body
is marked down and the request goes at once to another host, which costs no retry. Retries and
backoff count only when every host has failed the request. One host behaves exactly as before.
"""

from __future__ import annotations

import json
import random
import threading
import time
from functools import lru_cache
from typing import Any

from pipeline.llm.base import ChatMessage, Completion, LLMError, Options, PromptTooLarge, T, Task
from pipeline.llm.budget import clip_to_tokens, estimate_tokens, prompt_budget
from pipeline.llm.pool import HostPool, split_hosts
from pipeline.llm.validate import json_schema_for, parse_reply
from pipeline.models import JSONObject

FORMAT_VERSION = 1  # bump when the request shape (format rewriting, retry prompt) changes answers
CHECK_TIMEOUT_S = 5.0


def normalize_host(host: str) -> str:
    """`127.0.0.1:11434` → `http://127.0.0.1:11434`, so messages show a URL the user can paste."""
    host = (host or "http://127.0.0.1:11434").strip().rstrip("/")
    return host if "://" in host else f"http://{host}"


def _same_model(wanted: str, present: str) -> bool:
    """`qwen2.5:7b` matches only itself; `gemma3-270m` and `gemma3-270m:latest` match each other."""

    def full(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    return full(wanted) == full(present)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=1)
def _client_class() -> type:
    """The official client, made to keep the reply fields its models do not declare.

    Ollama-API servers built on llama.cpp count in `prompt_eval_count` only the prompt tokens they
    evaluated (a prefix reused from the slot's cache is left out) and report the reused ones as
    `prompt_cached_count`; the client's pydantic reply model drops unknown fields. So the chat reply
    class allows extra fields, which is all the override changes. (Ollama itself, since 0.2, counts the
    whole prompt in `prompt_eval_count` and reports no cached count: there sent = evaluated.)"""
    import ollama
    from pydantic import ConfigDict

    class Reply(ollama.ChatResponse):
        model_config = ConfigDict(extra="allow")

    class Client(ollama.Client):
        def _request(self, cls: type, *args: Any, **kwargs: Any) -> Any:
            return super()._request(Reply if cls is ollama.ChatResponse else cls, *args, **kwargs)

    return Client


def _cached_count(reply: Any) -> int:
    """`prompt_cached_count` of a reply when the server sent one, else 0."""
    extra = getattr(reply, "model_extra", None) or {}
    try:
        return max(0, int(extra.get("prompt_cached_count") or 0))
    except (TypeError, ValueError):
        return 0


class _Transient(Exception):
    """A transport fault worth retrying; the message is the cause shown to the user. `down`: the
    host itself failed (refused, 5xx, not Ollama), so the pool sends it nothing for a while; a slow
    reply or a cut stream is retried elsewhere but does not mark the host down."""

    def __init__(self, message: str, down: bool = True) -> None:
        super().__init__(message)
        self.down = down


class _ModelMissing(Exception):
    pass


class _Fatal(Exception):
    """An HTTP 4xx other than a missing model: the same request will fail again, so no retry."""


class OllamaLLM:
    """`LLM` implementation for an Ollama server or a pool of them. Thread-safe: one client per host is
    shared by the workers. `host` is one URL or several (comma separated); `pool` overrides it (the
    runner passes the process-wide pool so concurrent runs share per-host counts)."""

    provider = "ollama"

    def __init__(
        self,
        host: str,
        model: str,
        options: Options,
        *,
        stream: bool = False,
        max_retries: int = 2,
        backoff_s: float = 1.0,
        keep_alive: str = "10m",
        pool: HostPool | None = None,
    ) -> None:
        self.pool = pool or HostPool([normalize_host(h) for h in split_hosts(host) or [host]])
        self.host = ", ".join(self.pool.hosts)  # for messages: the one host, or the list
        self.model = model
        self.options = options
        self.stream = stream
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.keep_alive = keep_alive
        self._clients: dict[str, Any] = {}
        self._client_lock = threading.Lock()
        self.unusable: dict[str, str] = {}  # host → why check_model set it aside (several hosts only)

    # ------------------------------------------------------------------------------------------
    # Protocol
    # ------------------------------------------------------------------------------------------

    def cache_identity(self) -> JSONObject:
        return {
            "provider": self.provider,
            "model": self.model,
            "options": self.options.ollama(),
            "format_version": FORMAT_VERSION,
        }

    def complete(self, task: Task[T]) -> Completion[T]:
        started = time.monotonic()
        done: Completion[T] = Completion(value=None)
        fmt = json_schema_for(task.schema)
        messages = [m.copy() for m in task.messages]
        clip_at = _last_user(messages)

        messages = self._fit(task, messages, clip_at, done.notes)
        raw = self._chat(task, messages, fmt, done)
        value, repaired, error = parse_reply(raw, task.schema)
        if error is not None:
            done.repaired = True
            shorter = "回答超出了长度上限，在中途被截断，请写得更短、更精炼；" if done.truncated else ""
            retry: list[ChatMessage] = messages + [
                {"role": "assistant", "content": clip_to_tokens(raw, max(64, self.options.num_predict))},
                {
                    "role": "user",
                    "content": f"你上一次的回答无效：{error}。{shorter}请重新回答，只输出一个符合给定JSON结构的有效JSON对象，"
                    "所有文字内容都用简体中文书写。",
                },
            ]
            try:
                retry = self._fit(task, retry, clip_at, done.notes)
            except PromptTooLarge:  # bad output is never fatal: without room for a retry, degrade this slot
                done.degraded = (
                    f"invalid output, no room in num_ctx={self.options.num_ctx} for a retry: {error}"
                )
                done.invalid = error
                done.raw = raw
                done.seconds = time.monotonic() - started
                return done
            raw = self._chat(task, retry, fmt, done)
            value, repaired, error = parse_reply(raw, task.schema)
        done.value = value
        done.repaired = done.repaired or repaired
        if error is not None:
            done.degraded = f"invalid output after repair and retry: {error}"
            done.invalid = error
        done.raw = raw
        done.seconds = time.monotonic() - started
        return done

    @staticmethod
    def _tls(host: str) -> dict[str, bool]:
        """Plain-http hosts (the usual local Ollama) need no CA bundle; loading one costs ~0.1 s per client."""
        return {"verify": False} if host.startswith("http://") else {}

    def check_model(self) -> None:
        """Fail fast, before a run starts, when the server is down or the model is not pulled. With
        several hosts, those that fail are marked down (and listed in `unusable`); the run fails only
        when none is usable, with the first host's reason."""
        hosts = self.pool.hosts
        if len(hosts) == 1:
            self._check_host(hosts[0])
            return
        from concurrent.futures import ThreadPoolExecutor

        def check(host: str) -> str | None:
            try:
                self._check_host(host)
            except LLMError as err:
                return str(err)
            return None

        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            errors = dict(zip(hosts, pool.map(check, hosts), strict=True))
        self.unusable = {h: e for h, e in errors.items() if e is not None}
        if len(self.unusable) == len(hosts):
            raise LLMError(f"no Ollama host is usable: {next(iter(self.unusable.values()))}")
        for host, why in self.unusable.items():
            self.pool.mark_down(host, why)

    def _check_host(self, host: str) -> None:
        import ollama

        try:
            with ollama.Client(host=host, timeout=CHECK_TIMEOUT_S, **self._tls(host)) as client:
                listing = client.list()
        except ollama.ResponseError as err:
            raise LLMError(
                f"Ollama at {host} answered HTTP {err.status_code} to /api/tags: {_one_line(err.error)}"
            ) from err
        except Exception as err:  # connection refused, DNS, timeout, a non-Ollama server ...
            raise LLMError(
                f"cannot reach Ollama at {host}: {_cause(err)}; start it with `ollama serve` or set OLLAMA_HOST"
            ) from err
        names = [m.model or "" for m in listing.models]
        if not any(_same_model(self.model, name) for name in names):
            raise LLMError(self._missing_message(host))

    # ------------------------------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------------------------------

    def _missing_message(self, host: str) -> str:
        return f"model '{self.model}' is not available at {host}; pull it with: ollama pull {self.model}"

    def _get_client(self, host: str) -> Any:
        with self._client_lock:
            if host not in self._clients:
                self._clients[host] = _client_class()(host=host, timeout=self.options.timeout_s, **self._tls(host))
            return self._clients[host]

    def _fit(
        self, task: Task[T], messages: list[ChatMessage], clip_at: int | None, notes: list[str]
    ) -> list[ChatMessage]:
        """Clip the message at `clip_at` (the task's last user message) so the estimate fits the budget.

        The estimate over-counts (see `budget`), so a prompt that passes here fits `num_ctx`: Ollama would
        otherwise silently drop the *start* of the prompt, i.e. the instructions.
        """
        budget = prompt_budget(self.options.num_ctx, self.options.num_predict)
        sizes = [estimate_tokens(str(m.get("content", ""))) for m in messages]
        total = sum(sizes)
        if total <= budget:
            return messages
        room = budget - (total - sizes[clip_at]) if clip_at is not None else 0
        if clip_at is None or room < 1:
            raise PromptTooLarge(
                f"{task.step}: prompt of ~{total} tokens cannot fit num_ctx={self.options.num_ctx} "
                f"(num_predict={self.options.num_predict}) even with the last user message clipped; raise num_ctx"
            )
        out = [m.copy() for m in messages]
        out[clip_at]["content"] = clip_to_tokens(str(out[clip_at].get("content", "")), room)
        after = sum(estimate_tokens(str(m.get("content", ""))) for m in out)
        notes.append(f"prompt clipped from ~{total} to ~{after} tokens to fit num_ctx={self.options.num_ctx}")
        return out

    def _chat(self, task: Task[T], messages: list[ChatMessage], fmt: JSONObject, done: Completion[T]) -> str:
        """One logical request with transport retries; adds counts to `done`, returns the content.
        An attempt tries each host of the pool at most once (failover is immediate and is not a retry)."""
        attempts = self.max_retries + 1
        several = len(self.pool) > 1
        cause = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, self.backoff_s * 2 ** (attempt - 1)))
            tried: list[str] = []
            while len(tried) < len(self.pool):
                with self.pool.lease(exclude=tried) as host:
                    tried.append(host)
                    done.requests += 1
                    try:
                        content, evaluated, cached, completion_tokens, reason = self._send(host, messages, fmt)
                    except _ModelMissing as err:
                        if not several:
                            raise LLMError(f"{task.step}: {self._missing_message(host)}") from err
                        cause = f"{host}: model '{self.model}' missing"
                        self.pool.mark_down(host, cause)
                    except _Fatal as err:
                        raise LLMError(f"{task.step}: Ollama at {host} rejected the request: {err}") from err
                    except _Transient as err:
                        cause = f"{host}: {err}" if several else str(err)
                        if err.down:
                            self.pool.mark_down(host, str(err))
                    else:
                        self.pool.mark_ok(host)
                        done.host = host
                        done.prompt_tokens += evaluated + cached
                        done.prompt_eval_tokens = (done.prompt_eval_tokens or 0) + evaluated
                        done.completion_tokens += completion_tokens
                        done.truncated = reason == "length"
                        if done.truncated:
                            done.notes.append(f"reply cut at num_predict={self.options.num_predict}")
                        return content
                if not any(self.pool.healthy(h) for h in self.pool.hosts if h not in tried):
                    break  # no other host to fail over to: this attempt failed
                done.notes.append(f"{cause}; sent again to another host")
        raise LLMError(f"{task.step}: Ollama at {self.host} failed after {attempts} attempts: {cause}")

    def _send(self, host: str, messages: list[ChatMessage], fmt: JSONObject) -> tuple[str, int, int, int, str | None]:
        """Send one HTTP request to `host`: (content, prompt tokens evaluated, prompt tokens reused from the
        server's cache, completion tokens, done_reason). Every failure maps to `_Transient`, `_ModelMissing`
        or `_Fatal`."""
        import httpx
        import ollama
        from pydantic import ValidationError

        client = self._get_client(host)
        try:
            reply = client.chat(
                model=self.model,
                messages=messages,
                format=fmt,
                options=self.options.ollama(),
                keep_alive=self.keep_alive,
                stream=self.stream,
            )
            if not self.stream:
                return (
                    reply.message.content or "",
                    reply.prompt_eval_count or 0,
                    _cached_count(reply),
                    reply.eval_count or 0,
                    reply.done_reason,
                )
            pieces: list[str] = []
            try:
                for chunk in reply:
                    if chunk.message is not None and chunk.message.content:
                        pieces.append(chunk.message.content)
                    if chunk.done:
                        return (
                            "".join(pieces),
                            chunk.prompt_eval_count or 0,
                            _cached_count(chunk),
                            chunk.eval_count or 0,
                            chunk.done_reason,
                        )
            finally:
                reply.close()  # release the pooled connection now, not at garbage collection
            raise _Transient(f"stream closed before done after {len(pieces)} chunks", down=False)
        except ollama.ResponseError as err:
            status = err.status_code
            if status == 404 and "not found" in str(err.error).lower():
                raise _ModelMissing(err.error) from err
            if 400 <= status < 500:
                raise _Fatal(f"HTTP {status}: {_one_line(err.error)}") from err
            if status == -1:  # an {"error": ...} line inside a 200 stream
                raise _Transient(f"error in stream: {_one_line(err.error)}", down=False) from err
            raise _Transient(f"HTTP {status}: {_one_line(err.error)}") from err
        except httpx.TimeoutException as err:
            raise _Transient(f"{type(err).__name__} after {self.options.timeout_s:g} s",
                             down=isinstance(err, httpx.ConnectTimeout)) from err
        except httpx.RemoteProtocolError as err:
            raise _Transient(f"connection closed mid-reply ({_cause(err)})") from err
        except (httpx.TransportError, ConnectionError) as err:
            raise _Transient(_cause(err)) from err
        except (json.JSONDecodeError, TypeError, ValidationError) as err:
            raise _Transient(f"reply is not Ollama JSON ({_one_line(str(err), 120)})") from err


def _last_user(messages: list[ChatMessage]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _cause(err: BaseException) -> str:
    """The most specific one-line reason: the ollama client hides httpx's ConnectError behind a generic
    ConnectionError (`raise ... from None`), but the original is still on `__context__`."""
    inner = err.__cause__ or err.__context__
    if isinstance(err, ConnectionError) and inner is not None and str(inner):
        err = inner
    text = str(err) or type(err).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return _one_line(text, 200)
