"""The hand-over between the report kinds and the extractive engine: a queue of handler loaders.

Each report kind brings the extractive handlers of its own slots (`pipeline/kinds/<kind>/extractive.py`).
`pipeline.kinds` puts a kind's loader here when the kind is registered; the engine
(`pipeline.llm.extractive`) takes the loaders the first time it looks a handler up and calls them. This
module imports nothing, so registering a kind (which `yanbao run --help` does) loads no engine, and
neither the engine nor the kinds import each other through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_pending: list[Callable[[], object]] = []


def add(loader: Callable[[], object]) -> None:
    """Queue a kind's loader (a function returning its `pipeline.llm.extractive.ExtractiveSlots`)."""
    with _lock:
        if loader not in _pending:
            _pending.append(loader)


def take() -> list[Callable[[], object]]:
    """The loaders queued since the last call, in order."""
    with _lock:
        out = list(_pending)
        _pending.clear()
        return out
