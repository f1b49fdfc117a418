"""The `digest` kind (资讯深度解读): one deep-dive per news item (a topic, a URL or a document).

Its folder: `kind.py` (compose, the template's view), `rules.py` (category, emoji, credibility stars),
`slots.py` (slot models), `extractive.py` (the extractive engine's handlers). Template
`templates/digest.md.j2`; prompt `prompts/digest.md.j2` with its slots in `prompts/slots.yaml`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.kinds.spec import Kind

if TYPE_CHECKING:
    from pipeline.kinds.contract import Composed, RunContext
    from pipeline.llm.extractive import ExtractiveSlots


def compose(run: RunContext) -> Composed:
    from pipeline.kinds.digest.kind import compose as digest

    return digest(run)


def extractive() -> ExtractiveSlots:
    from pipeline.kinds.digest.extractive import SLOTS

    return SLOTS


KIND = Kind(
    name="digest",
    help="资讯深度解读: one deep-dive per item (topic, URL or file); `yanbao digest` writes the day's feed",
    compose=compose,
    template="digest.md.j2",
    batch=True,
    several_hint="use `yanbao digest ITEM...` for several items",
    extractive=extractive,
)
