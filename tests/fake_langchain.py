"""LangChain's own fake chat model, taught to answer a prompt as the fake Ollama does.

`GenericFakeChatModel` (langchain_core) returns the next message of its `messages` iterator whatever
it is asked. `ScriptedChatModel` keeps that machinery (its `_generate` builds the ChatResult) and
only chooses the next message from the request: a scripted item first (a string, an `AIMessage`, an
exception to raise, or None for the default), else a valid answer built from the schema the request carries, by
`fake_ollama.default_content`, so a whole `yanbao run` can go through LangChain.

Two shapes of structured output, as real integrations have them:

* `tools=True`: the model implements `bind_tools`, so LangChain's own `with_structured_output`
  binds the slot schema as a tool and the answer comes back as a tool call (OpenAI, Anthropic …);
* `tools=False` (the default): no tool calling, as with `GenericFakeChatModel` itself, so the
  engine falls back to writing the schema into the prompt and parses the text reply.

Every request is kept in `requests` (messages as role/content dicts, and the bound tools).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fake_ollama import default_content
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from pipeline.llm.budget import estimate_tokens
from pipeline.llm.langchain_engine import SCHEMA_MARKER

Scripted = str | AIMessage | BaseException | None  # None: answer as if nothing were scripted
Responder = Callable[[list[dict]], "str | None"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def as_dicts(messages: Sequence[BaseMessage]) -> list[dict]:
    return [{"role": _ROLES.get(m.type, m.type), "content": m.content} for m in messages]


def schema_in_prompt(messages: list[dict]) -> dict | None:
    """The JSON schema the engine appended after `SCHEMA_MARKER`, if any."""
    for m in reversed(messages):
        text = str(m.get("content", ""))
        if SCHEMA_MARKER in text:
            return json.loads(text.rsplit(SCHEMA_MARKER, 1)[1].strip().splitlines()[0])
    return None


class ScriptedChatModel(GenericFakeChatModel):
    """See the module docstring. Fields double as the options a provider class declares, so tests
    can see which of yanbao's options reached the model."""

    messages: Iterator[AIMessage | str] = Field(default_factory=lambda: iter(()))
    model: str = "fake"
    tools: bool = False
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    max_retries: int | None = None

    _script: list[Scripted] = PrivateAttr(default_factory=list)
    _requests: list[dict] = PrivateAttr(default_factory=list)
    _responder: Responder | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # -- test controls --------------------------------------------------------------------------
    def script(self, *items: Scripted) -> None:
        with self._lock:
            self._script.extend(items)

    def respond_with(self, responder: Responder | None) -> None:
        self._responder = responder

    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._requests)

    # -- LangChain ------------------------------------------------------------------------------
    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        if not self.tools:
            raise NotImplementedError("this fake has no tool calling")
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        asked = as_dicts(messages)
        tools = kwargs.get("tools") or []
        with self._lock:
            self._requests.append({"messages": asked, "tools": tools})
            item = self._script.pop(0) if self._script else None
            if isinstance(item, BaseException):
                raise item
            reply = item if item is not None else self._answer(asked, tools)
            if isinstance(reply, str):
                reply = self._message(reply, asked, tools)
            self.messages = iter([reply])  # GenericFakeChatModel's own machinery does the rest
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _answer(self, asked: list[dict], tools: list[dict]) -> str:
        if self._responder is not None:
            custom = self._responder(asked)
            if custom is not None:
                return custom
        schema = tools[0]["function"]["parameters"] if tools else schema_in_prompt(asked)
        request: dict[str, Any] = {"messages": asked}
        if schema is not None:
            request["format"] = schema
        return default_content(request)

    def _message(self, text: str, asked: list[dict], tools: list[dict]) -> AIMessage:
        usage = {
            "input_tokens": sum(estimate_tokens(str(m["content"])) for m in asked),
            "output_tokens": estimate_tokens(text),
        }
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        meta = {"finish_reason": "stop"}
        if tools:
            try:
                args = json.loads(text)
            except json.JSONDecodeError:
                return AIMessage(
                    content="",
                    invalid_tool_calls=[{"name": tools[0]["function"]["name"], "args": text, "id": "call_0", "error": "bad json", "type": "invalid_tool_call"}],
                    usage_metadata=usage, response_metadata=meta,
                )
            return AIMessage(
                content="", tool_calls=[{"name": tools[0]["function"]["name"], "args": args, "id": "call_0"}],
                usage_metadata=usage, response_metadata=meta,
            )
        return AIMessage(content=text, usage_metadata=usage, response_metadata=meta)
