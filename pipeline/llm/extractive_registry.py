"""Which function fills which task kind in the extractive engine: the registry the report kinds fill.

The engine (`pipeline.llm.extractive`) holds the shared machinery (sentence pools, ranking, the memory
of what a run has said) and asks this registry for the handler of a task's kind. Each report kind
brings the handlers of its own slots (`pipeline/kinds/<kind>/extractive.py`) and registers them through
`pipeline.kinds`, as a function returning `ExtractiveSlots`: it is called the first time the engine
needs a handler, so registering a kind imports nothing heavy. The engine never imports a kind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

    from pipeline.llm.extractive import ExtractiveLLM
    from pipeline.llm.extractive_rank import Cand
    from pipeline.models import TaskContext

    #: Fills one slot: (engine, the task's context, the slot model) -> (value, the sentences it used).
    Handler = Callable[[ExtractiveLLM, TaskContext, type[BaseModel]], tuple[BaseModel, list[Cand]]]


@dataclass(frozen=True)
class ExtractiveSlots:
    """A kind's handlers by task kind (`digest.frame` …), and each slot's name as the reader knows it
    (`标题与分类`), used in the reasons a slot is left empty."""

    handlers: Mapping[str, Handler]
    names: Mapping[str, str] = field(default_factory=dict)


_lock = threading.RLock()
_pending: list[Callable[[], ExtractiveSlots]] = []
_handlers: dict[str, Handler] = {}
_names: dict[str, str] = {}


def register_handlers(loader: Callable[[], ExtractiveSlots]) -> None:
    """Add a kind's handlers; `loader` runs when the engine first looks a handler up."""
    with _lock:
        if loader not in _pending:
            _pending.append(loader)


def _resolve() -> None:
    with _lock:
        while _pending:
            slots = _pending.pop(0)()
            for task_kind, handler in slots.handlers.items():
                if _handlers.get(task_kind, handler) is not handler:
                    raise ValueError(f"two report kinds fill the extractive task '{task_kind}'")
                _handlers[task_kind] = handler
            _names.update(slots.names)


def handler_for(task_kind: str) -> Handler | None:
    _resolve()
    return _handlers.get(task_kind)


def slot_name(task_kind: str) -> str:
    """The slot's name for the reader (`关键发现与洞察`), else the task kind itself."""
    _resolve()
    return _names.get(task_kind, task_kind)
