"""The LangChain engine (`--llm langchain`): any chat model LangChain's `init_chat_model` can build.

Why LangChain here, and only here: it is the one library that reaches many providers behind one
interface (`langchain_model = "openai:gpt-4o-mini"`, `"ollama:qwen2.5:7b"`, `"anthropic:…"`,
`"deepseek:…"` …, each needing only its integration package), and it is what other agents are built
on. Ollama keeps its own engine on the official client (start-up time, explicit options).

The contract is the Ollama engine's (`pipeline.llm.ollama`), so the run store, the cache, resume and
the report treat both alike:

* **structured output.** With `langchain_method = "auto"` the provider's own `with_structured_output`
  is used (JSON schema, tool calling or JSON mode: whatever the integration does best); a model
  without it (no tool calling) falls back to the prompt: the schema is appended to the last user
  message. The *raw* message is kept (`include_raw=True`) and goes through our own `parse_reply`, so
  the answer is validated exactly as an Ollama answer is (schema, Chinese), then repaired
  (json-repair), retried once with the error quoted back, or recorded as degraded.
* **options.** `temperature`, `seed`, the reply limit (`max_tokens` / `num_predict` / …), the timeout
  and `num_ctx` are passed under the names the provider's chat model class declares; an option the
  class has no field for is left out (passing it would either be ignored or sent to an API that
  rejects it) and named once in the run's notes. Provider-side retries are turned off
  (`max_retries=0`) because this engine retries transport faults itself, so `requests` counts what
  was really sent.
* **usage.** Tokens come from the reply's `usage_metadata`.
* **failures.** A bad *answer* costs one slot (repair → retry → degraded); a failing *transport* is
  retried with backoff and full jitter (HTTP 408/409/429/5xx, timeouts, refused connections), then
  raised as a one-line `LLMError`; an HTTP 4xx such as 401 or 404 is raised at once.

LangChain is an optional extra (`pip install 'yanbao[langchain]'`) and is imported only when this
engine is built, so `yanbao --help` never loads it.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pipeline.llm.base import ChatMessage, Completion, LLMError, Options, PromptTooLarge, T, Task
from pipeline.llm.budget import clip_to_tokens, estimate_tokens, prompt_budget
from pipeline.llm.validate import json_schema_for, parse_reply
from pipeline.models import JSONObject

if TYPE_CHECKING:  # only for annotations: importing langchain_core costs ~0.3 s
    from langchain_core.language_models import BaseChatModel, LanguageModelInput
    from langchain_core.messages import AIMessage
    from langchain_core.runnables import Runnable
    from pydantic import BaseModel

FORMAT_VERSION = 1  # bump when the request shape (schema wording, retry prompt) changes answers
EXTRA = "pip install 'yanbao[langchain]'"
Method = Literal["auto", "json_schema", "function_calling", "json_mode", "prompt"]
METHODS: tuple[str, ...] = ("auto", "json_schema", "function_calling", "json_mode", "prompt")
#: Starts the schema instruction appended in `json_mode` and `prompt` mode (tests find the schema by it).
SCHEMA_MARKER = "输出格式：只输出一个JSON对象，不要输出任何其他文字。该JSON对象必须符合以下JSON Schema："

# Where each option goes, by the field names chat model classes use for it (first match wins).
_OPTION_FIELDS: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "seed": ("seed", "random_seed"),
    "max_tokens": ("max_tokens", "max_completion_tokens", "num_predict", "max_output_tokens", "max_new_tokens"),
    "timeout": ("timeout", "request_timeout", "default_request_timeout"),
    "num_ctx": ("num_ctx",),
    "max_retries": ("max_retries",),
}
# Reply metadata that says the reply was cut at the token limit (OpenAI, Ollama, Anthropic, Gemini).
_CUT_REASONS = {"length", "max_tokens", "MAX_TOKENS"}
_THINK = re.compile(r"<think>.*?</think>", re.S)


class EngineSetupError(Exception):
    """`--llm langchain` cannot be set up: the extra or the provider's package is missing, the model
    spec is empty or names no known provider, the provider refused its settings (a missing API key).
    The message is one line naming the fix; the runner makes it exit 2, before anything is written."""


class ChatModelFactory(Protocol):
    """`init_chat_model`'s shape: a spec such as `openai:gpt-4o-mini` and the class's own kwargs."""

    def __call__(self, model: str, **kwargs: object) -> BaseChatModel: ...


def _init_chat_model(model: str, **kwargs: object) -> BaseChatModel:
    """LangChain's `init_chat_model` (the seam tests replace with LangChain's fake chat models)."""
    from langchain.chat_models import init_chat_model

    # The kwargs are the provider class's own fields, of no shape known here (init_chat_model takes
    # `**kwargs: Any`); `configurable_fields=None` picks its overload that returns a BaseChatModel.
    fields: dict[str, Any] = dict(kwargs)
    return init_chat_model(model, configurable_fields=None, **fields)


def require_langchain() -> None:
    """Raise `EngineSetupError` with the `pip install` line when the extra is not installed."""
    try:
        import langchain.chat_models  # noqa: F401
        import langchain_core.language_models  # noqa: F401
    except ImportError as exc:
        raise EngineSetupError(f"--llm langchain needs LangChain ({_one_line(exc, 120)}): {EXTRA}") from None


def provider_of(spec: str) -> str:
    """`ollama:qwen2.5:7b` → `ollama` (what `init_chat_model` reads before the first colon)."""
    return spec.split(":", 1)[0].strip().lower().replace("-", "_") if ":" in spec else ""


def option_kwargs(
    fields: Mapping[str, object], options: Options, *, provider: str = "", ollama_host: str = ""
) -> tuple[dict[str, object], list[str]]:
    """The kwargs that carry `options` to a chat model class whose pydantic fields are `fields`
    (`cls.model_fields`), under its own field names (or their aliases), and the options it has no
    field for. `max_retries` is 0: this engine retries, so that every request sent is counted."""
    names: dict[str, str] = {}
    for name, info in fields.items():
        alias = getattr(info, "alias", None)
        names[name] = alias or name
        if alias:
            names[alias] = alias
    values: dict[str, object] = {
        "temperature": options.temperature,
        "seed": options.seed,
        "max_tokens": options.num_predict,
        "timeout": options.timeout_s,
        "num_ctx": options.num_ctx,
        "max_retries": 0,
    }
    kwargs: dict[str, object] = {}
    missing: list[str] = []
    for option, candidates in _OPTION_FIELDS.items():
        key = next((names[c] for c in candidates if c in names), None)
        if key is not None:
            kwargs[key] = values[option]
        elif option == "timeout" and "client_kwargs" in names:  # ChatOllama: the httpx client's timeout
            kwargs[names["client_kwargs"]] = {"timeout": options.timeout_s}
        elif option not in ("num_ctx", "max_retries"):  # only some providers have these at all
            missing.append(option)
    if provider == "ollama" and ollama_host and "base_url" in names:  # yanbao's own Ollama setting applies
        kwargs[names["base_url"]] = ollama_host
    return kwargs, missing


def build_chat_model(
    spec: str, options: Options, *, ollama_host: str = "", factory: ChatModelFactory | None = None
) -> tuple[BaseChatModel, list[str]]:
    """Build the chat model for `spec` with the options its class takes; returns it and the options
    it could not take. A probe instance tells the class (LangChain has no public way to ask for the
    class of a spec), then the real one is built with the kwargs that class declares."""
    factory = factory or _init_chat_model
    spec = spec.strip()
    if not spec:
        raise EngineSetupError(
            "--llm langchain needs the setting langchain_model = \"provider:model\" (e.g. openai:gpt-4o-mini or "
            "ollama:qwen2.5:7b) in yanbao.toml or YANBAO_LANGCHAIN_MODEL"
        )
    try:
        probe = factory(spec)
        kwargs, missing = option_kwargs(
            type(probe).model_fields, options, provider=provider_of(spec), ollama_host=ollama_host
        )
        return factory(spec, **kwargs), missing
    except ImportError as exc:  # the provider's integration package: LangChain's message names it
        raise EngineSetupError(f"langchain_model {spec!r}: {_one_line(exc, 200)}") from None
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "provider" not in first.lower():  # a provider's own validation (pydantic errors are ValueErrors)
            raise EngineSetupError(f"langchain_model {spec!r}: {type(exc).__name__}: {_one_line(exc, 200)}") from None
        # no provider prefix, or one LangChain does not know (its message lists all of them: keep the first line)
        raise EngineSetupError(
            f"langchain_model {spec!r}: {_one_line(first, 160)}; write provider:model, e.g. openai:gpt-4o-mini"
        ) from None
    except Exception as exc:  # the integration refused its settings, e.g. no API key in the environment
        raise EngineSetupError(f"langchain_model {spec!r}: {type(exc).__name__}: {_one_line(exc, 200)}") from None


class _Transient(Exception):
    """A transport fault worth retrying; the message is the cause shown to the user."""


class _Fatal(Exception):
    """A fault the same request will meet again (HTTP 401, 403, 404, 400 …)."""


def _status_of(err: BaseException) -> int | None:
    """The HTTP status of a provider exception, whatever the SDK: openai, anthropic and ollama set
    `status_code`, httpx keeps it on `response`."""
    for obj in (err, getattr(err, "response", None)):
        code = getattr(obj, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def classify(err: BaseException) -> _Transient | _Fatal:
    """Sort a provider exception into retry (transport) or stop (the request is wrong)."""
    status = _status_of(err)
    text = _one_line(getattr(err, "message", None) or err or type(err).__name__, 200)
    if status is not None and status > 0:
        if status in (408, 409, 429) or status >= 500:
            return _Transient(f"HTTP {status}: {text}")
        if status in (401, 403):
            return _Fatal(f"HTTP {status} (authentication failed; check the provider's API key variable): {text}")
        if status == 404:
            return _Fatal(f"HTTP 404 (model or endpoint not found): {text}")
        return _Fatal(f"HTTP {status}: {text}")
    names = {cls.__name__ for cls in type(err).__mro__}
    if any("Timeout" in n for n in names):
        return _Transient(f"{type(err).__name__}: timed out")
    if isinstance(err, ConnectionError) or any("Connect" in n or "Transport" in n for n in names):
        inner = err.__cause__ or err.__context__
        cause = str(inner) if inner is not None and str(inner) else text
        if "Connection refused" in cause or "Errno 111" in cause:
            cause = "connection refused"
        return _Transient(_one_line(cause, 200))
    return _Transient(f"{type(err).__name__}: {text}")


@dataclass
class _Route:
    """How one slot model is asked for: the runnable to invoke and whether the schema must be written
    into the prompt (JSON mode and the prompt fallback, where the API does not carry it)."""

    runnable: Runnable[LanguageModelInput, object]
    schema_in_prompt: bool
    method: str


@dataclass
class LangChainLLM:
    """`LLM` implementation over a LangChain chat model. Thread-safe: chat models may be invoked
    from several workers; the per-schema structured runnables are built once under a lock."""

    spec: str
    chat: BaseChatModel
    options: Options
    method: Method = "auto"
    max_retries: int = 2
    backoff_s: float = 1.0
    unsupported: list[str] = field(default_factory=list)  # options the provider's class cannot take
    provider: str = "langchain"
    _routes: dict[type, _Route] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model(self) -> str:
        return self.spec

    # ------------------------------------------------------------------------------------------
    # Protocol
    # ------------------------------------------------------------------------------------------

    def cache_identity(self) -> JSONObject:
        return {
            "provider": self.provider,
            "model": self.spec,
            "options": self.options.ollama(),
            "method": self.method,
            "format_version": FORMAT_VERSION,
        }

    def complete(self, task: Task[T]) -> Completion[T]:
        started = time.monotonic()
        done: Completion[T] = Completion(value=None)
        route = self._route(task.schema)
        suffix = _schema_instruction(task.schema) if route.schema_in_prompt else ""
        messages = [m.copy() for m in task.messages]
        clip_at = _last_user(messages)

        messages = self._fit(task, messages, clip_at, suffix, done.notes)
        raw = self._invoke(task, route, messages, suffix, done)
        value, repaired, error = parse_reply(raw, task.schema)
        if error is not None:
            done.repaired = True
            retry = messages + [
                {"role": "assistant", "content": clip_to_tokens(raw, max(64, self.options.num_predict))},
                {
                    "role": "user",
                    "content": f"你上一次的回答无效：{error}。请重新回答，只输出一个符合给定JSON结构的有效JSON对象，"
                    "所有文字内容都用简体中文书写。",
                },
            ]
            try:
                retry = self._fit(task, retry, clip_at, suffix, done.notes)
            except PromptTooLarge:  # bad output is never fatal: without room for a retry, degrade this slot
                done.degraded = f"invalid output, no room in num_ctx={self.options.num_ctx} for a retry: {error}"
                done.invalid = error
                done.raw = raw
                done.seconds = time.monotonic() - started
                return done
            raw = self._invoke(task, route, retry, suffix, done)
            value, repaired, error = parse_reply(raw, task.schema)
        done.value = value
        done.repaired = done.repaired or repaired
        if error is not None:
            done.degraded = f"invalid output after repair and retry: {error}"
            done.invalid = error
        done.raw = raw
        done.seconds = time.monotonic() - started
        return done

    # ------------------------------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------------------------------

    def _route(self, schema: type[BaseModel]) -> _Route:
        """The structured runnable for `schema`, built once. `auto` takes the provider's default
        `with_structured_output`; a model without tool calling (`NotImplementedError`) is asked in
        the prompt instead."""
        with self._lock:
            route = self._routes.get(schema)
            if route is not None:
                return route
            if self.method == "prompt":
                route = _Route(self.chat, True, "prompt")
            else:
                spec = {**json_schema_for(schema), "title": schema.__name__, "description": "按要求填写的结构化结果"}
                kwargs = {} if self.method == "auto" else {"method": self.method}
                try:
                    runnable = self.chat.with_structured_output(spec, include_raw=True, **kwargs)
                    route = _Route(runnable, self.method == "json_mode", self.method)
                except NotImplementedError:
                    if self.method != "auto":
                        raise LLMError(
                            f"{self.spec}: this chat model has no structured output by {self.method}; "
                            "set langchain_method = \"prompt\" (or \"auto\")"
                        ) from None
                    route = _Route(self.chat, True, "prompt")
                except (TypeError, ValueError) as exc:  # the integration does not know this method
                    raise LLMError(
                        f"{self.spec}: langchain_method {self.method!r} is not supported here ({_one_line(exc, 120)}); "
                        "use auto, json_schema, function_calling, json_mode or prompt"
                    ) from None
            self._routes[schema] = route
            return route

    def _fit(
        self, task: Task[T], messages: list[ChatMessage], clip_at: int | None, suffix: str, notes: list[str]
    ) -> list[ChatMessage]:
        """Clip the task's last user message so the prompt (and the schema instruction, when it goes
        in the prompt) fits `num_ctx`, as the Ollama engine does: the estimate over-counts, so a prompt
        that passes here fits; a provider would otherwise reject it or drop its start."""
        budget = prompt_budget(self.options.num_ctx, self.options.num_predict) - estimate_tokens(suffix)
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

    def _invoke(self, task: Task[T], route: _Route, messages: list[ChatMessage], suffix: str, done: Completion[T]) -> str:
        """One logical request with transport retries; adds counts to `done`, returns the reply text."""
        if suffix:
            at = _last_user(messages)
            messages = [m.copy() for m in messages]
            if at is None:
                messages.append({"role": "user", "content": suffix})
            else:
                messages[at]["content"] = f"{messages[at].get('content', '')}\n\n{suffix}"
        attempts = self.max_retries + 1
        cause = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, self.backoff_s * 2 ** (attempt - 1)))
            done.requests += 1
            try:
                # LangChain takes plain dicts (`dict[str, Any]`), which a TypedDict is not to a type checker.
                out = route.runnable.invoke([dict(m) for m in messages])
            except Exception as err:  # every SDK has its own exception classes: sort them by shape
                kind = classify(err)
                if isinstance(kind, _Fatal):
                    raise LLMError(f"{task.step}: {self.spec} rejected the request: {kind}") from None
                cause = str(kind)
                continue
            message = out.get("raw") if isinstance(out, dict) else out
            usage = getattr(message, "usage_metadata", None) or {}
            done.prompt_tokens += int(usage.get("input_tokens") or 0)
            if usage:  # evaluated: less than sent when the provider reused a cached prompt prefix
                cached = int((usage.get("input_token_details") or {}).get("cache_read") or 0)
                done.prompt_eval_tokens = (done.prompt_eval_tokens or 0) + int(usage.get("input_tokens") or 0) - cached
            done.completion_tokens += int(usage.get("output_tokens") or 0)
            done.truncated = _was_cut(message)  # the content checks trim a cut reply (pipeline.kinds.slotcheck)
            if done.truncated:
                done.notes.append(f"reply cut at the token limit ({self.options.num_predict})")
            return reply_text(message)
        raise LLMError(f"{task.step}: {self.spec} failed after {attempts} attempts: {cause}")


def reply_text(message: AIMessage | object) -> str:
    """The JSON text of a reply: a tool call's arguments (tool-calling structured output), else the
    text content (JSON schema / JSON mode / the prompt), without a reasoning model's <think> block."""
    for call in getattr(message, "tool_calls", None) or []:
        return json.dumps(call.get("args", {}), ensure_ascii=False)
    for call in getattr(message, "invalid_tool_calls", None) or []:  # malformed arguments: repair them
        if call.get("args"):
            return str(call["args"])
    content = getattr(message, "content", message)
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content if isinstance(p, str | dict)]
        content = "".join(parts)
    return _THINK.sub("", str(content or "")).strip()


def _was_cut(message: object) -> bool:
    meta = getattr(message, "response_metadata", None) or {}
    return any(meta.get(k) in _CUT_REASONS for k in ("finish_reason", "done_reason", "stop_reason"))


def _schema_instruction(schema: type[BaseModel]) -> str:
    return SCHEMA_MARKER + json.dumps(json_schema_for(schema), ensure_ascii=False, separators=(",", ":"))


def _last_user(messages: Sequence[Mapping[str, object]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _one_line(text: object, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_langchain_llm(
    spec: str,
    options: Options,
    *,
    method: str = "auto",
    max_retries: int = 2,
    ollama_host: str = "",
    factory: ChatModelFactory | None = None,
) -> LangChainLLM:
    """Build the engine for `spec`; `EngineSetupError` (one line, with the fix) when it cannot be."""
    require_langchain()
    if method not in METHODS:
        raise EngineSetupError(f"langchain_method {method!r}: choose one of {', '.join(METHODS)}")
    chat, missing = build_chat_model(spec, options, ollama_host=ollama_host, factory=factory)
    return LangChainLLM(
        spec=spec.strip(), chat=chat, options=options, method=method,  # type: ignore[arg-type]
        max_retries=max(0, max_retries), unsupported=missing,
    )
