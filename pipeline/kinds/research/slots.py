"""The research kind's slots (one LLM call fills one) and the stage outputs code assembles from them.

Field descriptions double as the cues the extractive engine ranks sentences by
(`json_schema_extra={"cues": [...]}`), so one schema drives both engines.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from pipeline.models import Group, cues


class Plan(BaseModel):
    """Supervisor: split the topic into sub-topics."""

    subtopics: list[str] = Field(min_length=1, max_length=10, description="子主题，每个不超过30字")


class Query(BaseModel):
    """Research: the search query for this round."""

    query: str = Field(min_length=2, max_length=80, description="搜索查询词")


class RunningSummary(BaseModel):
    """Research: this round's paragraph of the running summary (code appends it to the earlier ones).
    Cite sources as [n]."""

    summary: str = Field(min_length=1, description="本轮的研究摘要：陈述资料中的事实和关键数字，每句用[n]标注来源编号")


class Reflection(BaseModel):
    """Research: what the summary has not covered yet, and the follow-up query for the next round."""

    knowledge_gap: str = Field(description="尚未覆盖的知识空白")
    follow_up_query: str = Field(description="下一轮搜索查询词")


class Findings(BaseModel):
    """Analysis 1: 关键发现与洞察."""

    groups: list[Group] = Field(
        min_length=1, max_length=5, json_schema_extra=cues("显示", "表明", "发现", "达到", "增长", "占")
    )


class Trends(BaseModel):
    """Analysis 2: 趋势分析, by dimension (需求侧 / 供给侧与基础设施 / 技术路径 / 商业模式 / 政策与治理)."""

    groups: list[Group] = Field(
        min_length=1, max_length=6, json_schema_extra=cues("趋势", "需求", "供给", "转向", "加速", "政策")
    )


class Assessment(BaseModel):
    """Analysis 3: 优缺点评估."""

    strengths: list[str] = Field(
        min_length=1, max_length=6, description="优势/利好", json_schema_extra=cues("优势", "领先", "受益", "提升")
    )
    risks: list[str] = Field(
        min_length=1, max_length=6, description="短板/风险", json_schema_extra=cues("风险", "限制", "短缺", "不确定")
    )


class Outlook(BaseModel):
    """Analysis 4: 未来展望."""

    near_term: list[str] = Field(
        min_length=1, max_length=5, description="12–24个月", json_schema_extra=cues("预计", "明年", "将")
    )
    long_term: list[str] = Field(
        min_length=1, max_length=5, description="3–5年", json_schema_extra=cues("长期", "到2030年", "未来")
    )
    base_case: str = Field(description="基准情景")
    optimistic_case: str = Field(description="乐观情景")
    cautious_case: str = Field(description="审慎情景")


class Advice(BaseModel):
    """Analysis 5 / synthesis 4: 实用建议 by audience, and 结语."""

    groups: list[Group] = Field(
        min_length=1, max_length=5, description="按对象分组：企业用户、云与基础设施提供商、政策制定者、投资者",
        json_schema_extra=cues("应", "需要", "建议", "关注"),
    )
    closing: str = Field(description="结语")


class ExecutiveSummary(BaseModel):
    """Synthesis 1: 执行摘要."""

    text: str = Field(min_length=1, description="一段完整的执行摘要：最重要的结论和关键数字，句末标注[n]")


class DetailedAnalysis(BaseModel):
    """Synthesis 2: 详细分析, titled sub-sections of bullets."""

    sections: list[Group] = Field(min_length=1, max_length=6)


class KeyFindings(BaseModel):
    """Synthesis 3: 关键发现."""

    points: list[str] = Field(
        min_length=1, max_length=10, description="关键发现：每条一句，含关键数字，句末标注[n]",
        json_schema_extra=cues("关键", "显示", "达到"),
    )


class Analysis(BaseModel):
    findings: Findings | None = None
    trends: Trends | None = None
    assessment: Assessment | None = None
    outlook: Outlook | None = None
    advice: Advice | None = None


class Synthesis(BaseModel):
    summary: ExecutiveSummary | None = None
    details: DetailedAnalysis | None = None
    findings: KeyFindings | None = None
    advice: Advice | None = None
