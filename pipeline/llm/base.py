"""The LLM protocol every engine implements, and the types that cross it.

A stage builds a `Task`: the chat messages (for generative engines), the structured context (for the
extractive engine) and the pydantic slot model the answer must validate against. The engine returns a
`Completion` carrying the validated value and what it cost. Caching and logging wrap an engine from
outside (`pipeline.run.store.RecordingLLM`), so engines stay simple.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Generic, Literal, Protocol, TypedDict, TypeVar

from pydantic import BaseModel

from pipeline.models import JSONObject, TaskContext

T = TypeVar("T", bound=BaseModel)


class ChatMessage(TypedDict):
    """One chat message as every generative engine sends it (Ollama, OpenAI-compatible, LangChain)."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class Options:
    """Sampling and context options. All of them are always sent to Ollama: its defaults silently
    truncate long prompts (num_ctx) and let base models run on forever (num_predict)."""

    num_ctx: int = 8192
    num_predict: int = 1024
    temperature: float = 0.3
    seed: int = 42
    timeout_s: float = 300.0

    def ollama(self) -> dict[str, int | float]:
        return {
            "num_ctx": self.num_ctx,
            "num_predict": self.num_predict,
            "temperature": self.temperature,
            "seed": self.seed,
        }


@dataclass
class Task(Generic[T]):
    """One slot to fill. `step` names the place in the run (e.g. `research[2].loop1.summarize`),
    `kind` the operation (`plan`, `query`, `summarize`, `reflect`, `analysis.findings`, ...)."""

    step: str
    kind: str
    schema: type[T]
    messages: list[ChatMessage]
    context: TaskContext


@dataclass
class Completion(Generic[T]):
    value: T | None  # None only when degraded
    prompt_tokens: int = 0  # prompt tokens sent (as the server counts them)
    completion_tokens: int = 0
    # Prompt tokens the server evaluated: fewer than `prompt_tokens` when it reused a cached prefix of the
    # prompt (Ollama-API servers on llama.cpp report it; None when the engine cannot tell).
    prompt_eval_tokens: int | None = None
    seconds: float = 0.0
    requests: int = 0  # HTTP requests actually sent (0 for a cache hit or a non-network engine)
    repaired: bool = False  # JSON had to be repaired or a retry was needed
    degraded: str | None = None  # why no valid value could be had
    invalid: str | None = None  # with `degraded`: the model answered, but its last answer failed validation (why)
    cached: bool = False
    host: str | None = None  # the server that gave the reply (engines with hosts; None for a cache hit)
    raw: str = ""
    # The last reply stopped at the reply-token limit (Ollama `done_reason`, OpenAI `finish_reason`
    # "length": num_predict / max_tokens) rather than ending by itself: its text is cut mid-way.
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


class LLMError(Exception):
    """An engine could not answer at all (server down, model missing, timeouts exhausted).
    The message is one line meant for the user and names the cause."""


class PromptTooLarge(LLMError):
    """The prompt cannot fit the context window even clipped. Fatal for a first request (the user
    must raise num_ctx); for a retry of an answer that failed its checks it only means no retry."""


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, asked instead of its name (`pipeline.run.engines` registers the engines).

    An engine declares the ones that differ from a generative chat model as class attributes of the
    same names; `capabilities(engine)` fills in the rest, so a plugin engine needs to declare nothing.
    """

    generative: bool = True  # writes text from a prompt: prompts are rendered, answers can fail validation
    sequential: bool = False  # its steps must run in order, one at a time (it keeps state across calls)
    passages: bool = True  # it reads sources cut into passages (worth pre-computing as sources arrive)
    cacheable: bool = True  # a recorded answer may be replayed from the run store's cache


def capabilities(engine: object) -> Capabilities:
    """`engine`'s capabilities: those it declares (class attributes named as `Capabilities`' fields), the
    generative defaults for the others. Wrappers (`RecordingLLM`) declare their inner engine's."""
    return Capabilities(**{f.name: bool(getattr(engine, f.name, f.default)) for f in fields(Capabilities)})


class LLM(Protocol):
    provider: str  # the engine's name, as recorded in run.json and the run store: never compared by callers
    @property
    def model(self) -> str:
        """The model the engine asks (read-only: an engine may compute it, as LangChain's does)."""
        ...

    def complete(self, task: Task[T]) -> Completion[T]: ...

    def cache_identity(self) -> JSONObject:
        """What, besides the messages, determines the answer (model, options): the cache key part."""
        ...
