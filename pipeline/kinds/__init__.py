"""The report kinds: the one registry every room asks (`yanbao run --kind`, settings, jobs, the queue).

A kind is one folder (`pipeline/kinds/<name>/`: its stages, slot models `slots.py`, extractive handlers
`extractive.py`, `kind.py` with `compose` and the view its template gets) plus its template and
prompts, and one `Kind` declaring it. Kinds come from three places, in this order:

* the built-in ones, imported below (`research`, `digest`, `commentary`);
* the entry point group `yanbao.kinds` of installed packages: `weekly = "yanbao_weekly:KIND"` in a
  package's `[project.entry-points."yanbao.kinds"]` names a `Kind` object;
* `register(kind)`, for tests and for programs that embed yanbao.

`Kind` itself is in `pipeline.kinds.spec`, which the kind folders import (not this module: it imports
them). Declaring a kind is light (this module and each kind folder's `__init__.py` import no pydantic, no
jieba): `yanbao run --help` lists the kinds without loading any of them. The heavy parts — `compose`'s
module, the extractive handlers — are imported by the functions a `Kind` holds, when a run calls them.
"""

from __future__ import annotations

import threading

from pipeline.kinds.folders import TEMPLATES_DIR, add_folders
from pipeline.kinds.spec import Kind, KindError

__all__ = ["ENTRY_POINT_GROUP", "TEMPLATES_DIR", "Kind", "KindError", "file_stem", "get", "kinds", "names",
           "register", "run_batch_names", "several_topics_hint", "unregister"]

ENTRY_POINT_GROUP = "yanbao.kinds"

_lock = threading.RLock()
_kinds: dict[str, Kind] = {}
_loaded = False


def _builtins() -> tuple[Kind, ...]:
    from pipeline.kinds.commentary import KIND as commentary
    from pipeline.kinds.digest import KIND as digest
    from pipeline.kinds.research import KIND as research

    return research, digest, commentary


def _entry_point_kinds() -> list[Kind]:
    """Kinds of installed packages (`yanbao.kinds`), in name order; a broken one is one line naming it."""
    from importlib.metadata import entry_points

    found: list[Kind] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            kind = ep.load()
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin's import is reported, not raised as is
            raise KindError(f"report kind '{ep.name}' ({ep.value}) cannot be loaded: {exc}") from None
        if not isinstance(kind, Kind):
            raise KindError(f"report kind '{ep.name}' ({ep.value}) is not a pipeline.kinds.Kind")
        if kind.name != ep.name:
            raise KindError(f"report kind '{ep.name}' ({ep.value}) calls itself '{kind.name}'")
        found.append(kind)
    return found


def _load() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for kind in (*_builtins(), *_entry_point_kinds()):
            _add(kind)


def _add(kind: Kind) -> None:
    if kind.name in _kinds and _kinds[kind.name] is not kind:
        raise KindError(f"report kind '{kind.name}' is registered twice")
    if not kind.name or not kind.name.replace("-", "").replace("_", "").isalnum() or not kind.name.isascii():
        raise KindError(f"report kind name '{kind.name}' must be a word of letters, digits, '-' or '_'")
    _kinds[kind.name] = kind
    add_folders(kind.templates, kind.prompts)
    if kind.extractive is not None:
        from pipeline.llm import extractive_loaders

        extractive_loaders.add(kind.extractive)


def register(kind: Kind) -> Kind:
    """Add a kind (a test's, an embedding program's). Its name must be new."""
    with _lock:
        _load()
        _add(kind)
    return kind


def unregister(name: str) -> None:
    """Remove a kind added with `register` (tests clean up after themselves)."""
    with _lock:
        _kinds.pop(name, None)


def kinds() -> dict[str, Kind]:
    """Every registered kind by name, the built-in ones first."""
    _load()
    return dict(_kinds)


def names() -> tuple[str, ...]:
    return tuple(kinds())


def get(name: str) -> Kind:
    """The kind called `name`, or KindError listing the registered ones."""
    found = kinds().get(name)
    if found is None:
        raise KindError(f"report kind '{name}' is not available; choose one of: {', '.join(names())}")
    return found


def file_stem(kind: Kind, day: str, topic: str) -> str:
    """The report's file stem: the kind's own rule, else `<day>-<name>-<slug of topic>`."""
    if kind.stem is not None:
        return kind.stem(day, topic)
    from pipeline.run.render import slugify

    return f"{day}-{kind.name}-{slugify(topic)}"


def run_batch_names() -> tuple[str, ...]:
    """Kinds whose `yanbao run` takes several topics (and `--topics-file`)."""
    return tuple(k.name for k in kinds().values() if k.run_batch)


def several_topics_hint() -> str:
    """The end of the error for several topics given to a kind that takes one."""
    return "several topics are for " + ", ".join(f"--kind {n}" for n in run_batch_names())

