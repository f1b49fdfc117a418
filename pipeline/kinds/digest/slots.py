"""The digest kind's slots; layout in templates/digest.md.j2. Section numbers, citations, emoji and
stars are code's (pipeline/kinds/digest/kind.py, rules.py).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from pipeline.models import Group, cues

#: Digest categories; the emoji beside the headline is chosen by code from the category.
DIGEST_CATEGORIES = ("AI产品", "芯片与算力", "云与数据中心", "模型与技术", "政策与监管", "资本与财报", "能源与基础设施", "行业动态")


class DigestFrame(BaseModel):
    """Digest: the headline, its category and the thesis that heads the executive summary."""

    headline: str = Field(min_length=4, max_length=60, description="标题：点出事件和看点，不超过40字")
    category: str = Field(
        min_length=2, max_length=12, description="分类，取其一：" + "、".join(DIGEST_CATEGORIES),
        json_schema_extra={"enum": list(DIGEST_CATEGORIES)},
    )
    thesis: str = Field(min_length=2, max_length=40, description="执行摘要的核心论断，不超过30字")


class DigestQuestion(BaseModel):
    """Digest: 战略问题 — the question the news raises, with the facts that frame it."""

    question: str = Field(
        min_length=4, max_length=300, description="一到两句话说明这条资讯提出的核心战略问题",
        json_schema_extra=cues("问题", "挑战", "关键", "能否", "如何", "不确定"),
    )
    points: list[str] = Field(
        min_length=1, max_length=4, description="支撑这个问题的事实要点，含数字时标注[n]",
        json_schema_extra=cues("显示", "达到", "占", "增长", "超过"),
    )


class KeyMetric(BaseModel):
    """One candidate row of 关键数据指标; kept only when the facts check verifies its number."""

    name: str = Field(min_length=2, max_length=40, description="指标名称，写明主体，例如：英伟达数据中心收入")
    value: str = Field(min_length=1, max_length=40, description="数值，照抄资料原文，例如：512亿美元")
    ref: int = Field(ge=1, le=99, description="资料编号n")


class DigestMetrics(BaseModel):
    """Digest: candidate key metrics (code keeps the verified ones)."""

    metrics: list[KeyMetric] = Field(min_length=1, max_length=8)


class DigestJudgements(BaseModel):
    """Digest: 战略判断, a numbered list (numbers written by code)."""

    points: list[str] = Field(
        min_length=2, max_length=5, description="战略判断，每条一到两句",
        json_schema_extra=cues("将", "预计", "应", "需要", "有望", "意味着"),
    )


class DigestPart(BaseModel):
    """Digest: one of the five parts, as titled sub-sections of bullets (numbered by code)."""

    sections: list[Group] = Field(min_length=1, max_length=4)


class DigestConclusion(BaseModel):
    """Digest: the one-line conclusion that ends up in `## 结论：…`."""

    text: str = Field(min_length=4, max_length=100, description="一句话结论，不超过60字")
