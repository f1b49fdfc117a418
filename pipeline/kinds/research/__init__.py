"""The `research` kind (主管架构研究报告): supervisor → research workers → analysis → synthesis.

Its folder: `kind.py` (compose, the template's view), `supervisor.py`, `worker.py`, `analysis.py`,
`synthesis.py` (the stages), `slots.py` (slot models), `extractive.py` (the extractive engine's handlers).
Template `templates/research.md.j2`; prompts `prompts/{plan,query,summarize,reflect,analysis,synthesis}.md.j2`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.kinds.spec import Kind

if TYPE_CHECKING:
    from pipeline.kinds.contract import Composed, RunContext
    from pipeline.llm.extractive import ExtractiveSlots


def compose(run: RunContext) -> Composed:
    from pipeline.kinds.research.kind import compose as research

    return research(run)


def file_stem(day: str, topic: str) -> str:
    """`<day>-<slug>`: research reports kept the name they had before there were other kinds."""
    from pipeline.run.render import slugify

    return f"{day}-{slugify(topic)}"


def extractive() -> ExtractiveSlots:
    from pipeline.kinds.research.extractive import SLOTS

    return SLOTS


KIND = Kind(
    name="research",
    help="主管架构研究报告: sub-topics researched in loops, analysed and synthesized",
    compose=compose,
    template="research.md.j2",
    stem=file_stem,
    extractive=extractive,
)
