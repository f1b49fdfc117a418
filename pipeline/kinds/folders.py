"""Where report templates and prompts are found: the project's `templates/` and `prompts/`, then the
folders of each registered kind that brings its own (`Kind.templates`, `Kind.prompts`).

State only, no imports of the package: the rooms that render (`pipeline.run.render`,
`pipeline.kinds.prompting`, `pipeline.run.verify`) read it, the registry (`pipeline.kinds`) adds to it,
and none of them imports another through it.
"""

from __future__ import annotations

import threading
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
#: The built-in templates and prompts; a kind with its own folders adds them after these.
TEMPLATES_DIR = PROJECT_ROOT / "templates"
PROMPTS_DIR = PROJECT_ROOT / "prompts"


_lock = threading.Lock()
_templates: list[Path] = [TEMPLATES_DIR]
_prompts: list[Path] = [PROMPTS_DIR]


def add_folders(templates: Path | None, prompts: Path | None) -> None:
    """A registered kind's own template and prompt folders join the search (the registry calls this)."""
    with _lock:
        if templates is not None and templates not in _templates:
            _templates.append(templates)
        if prompts is not None and prompts not in _prompts:
            _prompts.append(prompts)


def template_dirs() -> tuple[Path, ...]:
    """Where report templates are found: the project's `templates/`, then each registered kind's folder."""
    with _lock:
        return tuple(_templates)


def prompt_dirs() -> tuple[Path, ...]:
    """Where prompts and `slots.yaml` files are found: the project's `prompts/`, then each kind's folder."""
    with _lock:
        return tuple(_prompts)
