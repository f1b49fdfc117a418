"""What a report kind is: `Kind`.

Kept apart from the registry (`pipeline.kinds`): the kind folders declare their `Kind` with this module,
without importing the registry, which imports them (no import circle). Imports nothing heavy:
declaring a kind must not slow `yanbao --help`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.kinds.contract import Composed, RunContext
    from pipeline.llm.extractive import ExtractiveSlots

class KindError(ValueError):
    """An unknown kind, or a kind that cannot be registered or loaded. One line naming the cause."""


@dataclass(frozen=True)
class Kind:
    """One report kind, as the runner, the CLI, the settings and the scheduler see it.

    `compose(run)` does the kind's work and returns the template and its context (`pipeline.kinds.contract`).
    `extractive` returns the kind's extractive handlers when the engine first needs them (a function, so
    that declaring the kind imports nothing heavy). `templates` / `prompts`: folders of the kind's own
    template and prompt files (`slots.yaml` included; a kind outside this package brings its own); the
    project's `templates/` and `prompts/` are searched first.
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
    templates: Path | None = None
    prompts: Path | None = None

    @property
    def run_batch(self) -> bool:
        """Whether `yanbao run --kind <name>` takes several topics (and `--topics-file`)."""
        return self.batch and not self.several_hint

