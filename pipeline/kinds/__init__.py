"""The report kinds: the one registry every room asks (`yanbao run --kind`, settings, jobs, the queue).

A kind is one folder (`pipeline/kinds/<name>/`: its stages, slot models `slots.py`, extractive handlers
`extractive.py`, `kind.py` with `compose` and the view its template gets) plus its template and
prompts, and one `Kind` declaring it. Kinds come from three places, in this order:

* the built-in ones, imported below (`research`, `digest`, `commentary`);
* the entry point group `yanbao.kinds` of installed packages: `weekly = "yanbao_weekly:KIND"` in a
  package's `[project.entry-points."yanbao.kinds"]` names a `Kind` object;
* `register(kind)`, for tests and for programs that embed yanbao.

Declaring a kind is light (this module and each kind folder's `__init__.py` import no pydantic, no
jieba): `yanbao run --help` lists the kinds without loading any of them. The heavy parts — `compose`'s
module, the extractive handlers — are imported by the functions a `Kind` holds, when a run calls them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.kinds.contract import Composed, RunContext
    from pipeline.llm.extractive_registry import ExtractiveSlots

ENTRY_POINT_GROUP = "yanbao.kinds"
#: The built-in templates and prompts; a kind with its own folders adds them after these.
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"
PROMPTS_DIR = PROJECT_ROOT / "prompts"


class KindError(ValueError):
    """An unknown kind, or a kind that cannot be registered or loaded. One line naming the cause."""


@dataclass(frozen=True)
class Kind:
    """One report kind, as the runner, the CLI, the settings and the scheduler see it.

    `compose(run)` does the kind's work and returns the template and its context (`pipeline.kinds.contract`).
    `extractive` returns the kind's extractive handlers when the engine first needs them (a function, so
    that declaring the kind imports nothing heavy). `templates` / `prompts`: folders of the kind's own
    template and prompt files (a kind outside this package brings its own); the built-in ones live in
    the project's `templates/` and `prompts/`, which are searched first.
    """

    name: str
    help: str  # one line: what the kind writes
    compose: Callable[[RunContext], Composed]
    template: str  # the Jinja template the report is rendered with, e.g. "research.md.j2"
    # One run may take several topics (one article or section each, one file for the batch).
    batch: bool = False
    # For a batch kind whose several topics come through another command (`yanbao digest ITEM...`),
    # not `yanbao run`: what to tell a user who gave `yanbao run` several topics.
    several_hint: str = ""
    # The file stem of a report: `(day, topic) -> stem`; None: `<day>-<name>-<slug of topic>`.
    stem: Callable[[str, str], str] | None = None
    extractive: Callable[[], ExtractiveSlots] | None = None
    # Task kinds whose answers get the content checks (`pipeline.kinds.slotcheck`), as prefixes:
    # "digest." checks every digest slot.
    checked: tuple[str, ...] = ()
    templates: Path | None = None
    prompts: Path | None = None

    @property
    def run_batch(self) -> bool:
        """Whether `yanbao run --kind <name>` takes several topics (and `--topics-file`)."""
        return self.batch and not self.several_hint

    def file_stem(self, day: str, topic: str) -> str:
        if self.stem is not None:
            return self.stem(day, topic)
        from pipeline.run.render import slugify

        return f"{day}-{self.name}-{slugify(topic)}"


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
    if kind.extractive is not None:
        from pipeline.llm.extractive_registry import register_handlers

        register_handlers(kind.extractive)


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


def run_batch_names() -> tuple[str, ...]:
    """Kinds whose `yanbao run` takes several topics (and `--topics-file`)."""
    return tuple(k.name for k in kinds().values() if k.run_batch)


def several_topics_hint() -> str:
    """The end of the error for several topics given to a kind that takes one."""
    return "several topics are for " + ", ".join(f"--kind {n}" for n in run_batch_names())


def template_dirs() -> tuple[Path, ...]:
    """Where report templates are found: the project's `templates/`, then each kind's own folder."""
    return (TEMPLATES_DIR, *dict.fromkeys(k.templates for k in kinds().values() if k.templates is not None))


def prompt_dirs() -> tuple[Path, ...]:
    """Where prompts (and `slots.yaml` files) are found: the project's `prompts/`, then each kind's own."""
    return (PROMPTS_DIR, *dict.fromkeys(k.prompts for k in kinds().values() if k.prompts is not None))


def checked_tasks() -> tuple[str, ...]:
    """Task kinds (prefixes) whose answers get the content checks, over every registered kind."""
    return tuple(dict.fromkeys(p for k in kinds().values() for p in k.checked))
