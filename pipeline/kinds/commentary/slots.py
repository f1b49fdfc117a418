"""The commentary kind's slots; layout in templates/commentary.md.j2. Section numerals and the
closing line are code's (pipeline/kinds/commentary/kind.py).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class CommentaryTitle(BaseModel):
    """Commentary: the headline and its hook; code joins them with a colon."""

    headline: str = Field(min_length=2, max_length=30, description="主标题：点明事件，不超过20字")
    hook: str = Field(min_length=2, max_length=40, description="副标题：引发思考的看点，不超过25字")


class CommentaryLead(BaseModel):
    """Commentary: two lead paragraphs — the news, then the question it raises."""

    paragraphs: list[str] = Field(min_length=2, max_length=2, description="第一段交代新闻事实，第二段提出问题")


class CommentaryOutline(BaseModel):
    """Commentary: the titles of the 3–5 numbered sections (numbered by code: 一、二、三…)."""

    titles: list[str] = Field(min_length=3, max_length=5, description="小节标题，每个不超过20字")


class CommentarySection(BaseModel):
    """Commentary: the body of one section."""

    paragraphs: list[str] = Field(min_length=1, max_length=3, description="一到三段，每段两到四句")


class CommentaryClosing(BaseModel):
    """Commentary: the closing paragraph and the questions put to readers."""

    closing: str = Field(min_length=4, description="结语：一段收束全文的话")
    questions: list[str] = Field(min_length=1, max_length=3, description="向读者提出的问题，每个以问号结尾")
