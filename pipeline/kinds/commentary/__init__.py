"""The `commentary` kind (热点评论): a batch of short opinion articles, one per topic, in one file.

Its folder: `kind.py` (compose, the template's view), `slots.py` (slot models), `extractive.py` (the
extractive engine's handlers). Template `templates/commentary.md.j2`; prompt `prompts/commentary.md.j2`
with its slots in `prompts/slots.yaml`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.kinds.spec import Kind

if TYPE_CHECKING:
    from pipeline.kinds.contract import Composed, RunContext
    from pipeline.llm.extractive import ExtractiveSlots


def compose(run: RunContext) -> Composed:
    from pipeline.kinds.commentary.kind import compose as commentary

    return commentary(run)


def extractive() -> ExtractiveSlots:
    from pipeline.kinds.commentary.extractive import SLOTS

    return SLOTS


KIND = Kind(
    name="commentary",
    help="热点评论: short opinion articles, one per topic, in one file",
    compose=compose,
    template="commentary.md.j2",
    batch=True,
    extractive=extractive,
)
