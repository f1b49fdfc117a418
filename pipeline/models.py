"""Pydantic types shared by the stages.

Two families live here:

* data that flows between stages (`SearchResult`, `Doc`, `WorkerResult` ...), and
* the *slots* an LLM fills. Slots are deliberately small: one call fills one slot model, so a small
  model only has to produce a short JSON object, and a failure costs one slot, not the report.
  Field descriptions double as the "intent" the extractive engine uses to pick sentences
  (`json_schema_extra={"cues": [...]}`), so the same schema drives both engines.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


def source_id(url: str) -> str:
    """Stable id of a source: the same URL is the same source across workers and runs."""
    return hashlib.sha1(url.strip().encode("utf-8")).hexdigest()[:12]


class SearchResult(BaseModel):
    """One hit from a search backend (DuckDuckGo, local corpus, or a fetched page)."""

    title: str
    url: str
    snippet: str = ""
    content: str = ""  # full text when the backend has it (local document, fetched page)
    publisher: str = ""
    date: str = ""
    engine: str = ""
    path: str | None = None  # local file behind the hit, if any

    @property
    def id(self) -> str:
        return source_id(self.url)

    @property
    def text(self) -> str:
        """The richest text we have for this hit."""
        return self.content or self.snippet


class Doc(BaseModel):
    """A source as shown to a stage: `ref` is the citation number the stage may write as [ref]."""

    ref: int
    source_id: str
    title: str
    url: str
    text: str


class TaskContext(BaseModel):
    """Structured inputs of a stage call.

    The Ollama engine only sees the rendered prompt; the extractive engine ignores the prompt and works
    from these fields. Keeping both in one object is what lets the two engines sit behind one interface.
    """

    topic: str
    subtopic: str = ""
    breadth: int = 1
    loop: int = 0
    summary: str = ""
    queries: list[str] = Field(default_factory=list)
    documents: list[Doc] = Field(default_factory=list)
    # For analysis/synthesis: the text of the earlier stages, keyed by a readable label.
    notes: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Slots. Every list has bounds so that a model that rambles is cut by validation, not by the page.
# ---------------------------------------------------------------------------------------------


def _cues(*words: str) -> dict:
    return {"cues": list(words)}


class Plan(BaseModel):
    """Supervisor: split the topic into sub-topics."""

    subtopics: list[str] = Field(min_length=1, max_length=10, description="子主题，每个不超过30字")


class Query(BaseModel):
    """Research: the search query for this round."""

    query: str = Field(min_length=2, max_length=80, description="搜索查询词")


class RunningSummary(BaseModel):
    """Research: the running summary, extended with the new results. Cite sources as [n]."""

    summary: str = Field(min_length=1, description="扩展后的研究摘要：陈述资料中的事实和关键数字，每句用[n]标注来源编号")


class Reflection(BaseModel):
    """Research: what the summary has not covered yet, and the follow-up query for the next round."""

    knowledge_gap: str = Field(description="尚未覆盖的知识空白")
    follow_up_query: str = Field(description="下一轮搜索查询词")


class Group(BaseModel):
    """A short sub-head with its bullets."""

    title: str = Field(description="小标题，不超过20字")
    points: list[str] = Field(min_length=1, max_length=8, description="要点：陈述资料中的事实和数字，句末标注[n]")


class Findings(BaseModel):
    """Analysis 1: 关键发现与洞察."""

    groups: list[Group] = Field(
        min_length=1, max_length=5, json_schema_extra=_cues("显示", "表明", "发现", "达到", "增长", "占")
    )


class Trends(BaseModel):
    """Analysis 2: 趋势分析, by dimension (需求侧 / 供给侧与基础设施 / 技术路径 / 商业模式 / 政策与治理)."""

    groups: list[Group] = Field(
        min_length=1, max_length=6, json_schema_extra=_cues("趋势", "需求", "供给", "转向", "加速", "政策")
    )


class Assessment(BaseModel):
    """Analysis 3: 优缺点评估."""

    strengths: list[str] = Field(
        min_length=1, max_length=6, description="优势/利好", json_schema_extra=_cues("优势", "领先", "受益", "提升")
    )
    risks: list[str] = Field(
        min_length=1, max_length=6, description="短板/风险", json_schema_extra=_cues("风险", "限制", "短缺", "不确定")
    )


class Outlook(BaseModel):
    """Analysis 4: 未来展望."""

    near_term: list[str] = Field(
        min_length=1, max_length=5, description="12–24个月", json_schema_extra=_cues("预计", "明年", "将")
    )
    long_term: list[str] = Field(
        min_length=1, max_length=5, description="3–5年", json_schema_extra=_cues("长期", "到2030年", "未来")
    )
    base_case: str = Field(description="基准情景")
    optimistic_case: str = Field(description="乐观情景")
    cautious_case: str = Field(description="审慎情景")


class Advice(BaseModel):
    """Analysis 5 / synthesis 4: 实用建议 by audience, and 结语."""

    groups: list[Group] = Field(
        min_length=1, max_length=5, description="按对象分组：企业用户、云与基础设施提供商、政策制定者、投资者",
        json_schema_extra=_cues("应", "需要", "建议", "关注"),
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
        json_schema_extra=_cues("关键", "显示", "达到"),
    )


# ---------------------------------------------------------------------------------------------
# Stage outputs assembled by code.
# ---------------------------------------------------------------------------------------------


class WorkerResult(BaseModel):
    """One research worker: its sub-topic, the queries it ran, the sources it used and its summary."""

    index: int
    subtopic: str
    queries: list[str] = Field(default_factory=list)
    derived_queries: list[int] = Field(default_factory=list)  # loops whose query code derived
    sources: list[SearchResult] = Field(default_factory=list)  # in order of first use
    summary: str = ""  # citations as [[src:<id>]] markers, renumbered at render time
    loops: int = 0


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


# ---------------------------------------------------------------------------------------------
# Digest and commentary slots (report kinds `digest` and `commentary`, issue 5A).
# Filled by pipeline/kinds/digest/kind.py and pipeline/kinds/commentary/kind.py; layout in templates/digest.md.j2
# and templates/commentary.md.j2. Numbers of sections, citations, emoji and stars are code's.
# ---------------------------------------------------------------------------------------------

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
        json_schema_extra=_cues("问题", "挑战", "关键", "能否", "如何", "不确定"),
    )
    points: list[str] = Field(
        min_length=1, max_length=4, description="支撑这个问题的事实要点，含数字时标注[n]",
        json_schema_extra=_cues("显示", "达到", "占", "增长", "超过"),
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
        json_schema_extra=_cues("将", "预计", "应", "需要", "有望", "意味着"),
    )


class DigestPart(BaseModel):
    """Digest: one of the five parts, as titled sub-sections of bullets (numbered by code)."""

    sections: list[Group] = Field(min_length=1, max_length=4)


class DigestConclusion(BaseModel):
    """Digest: the one-line conclusion that ends up in `## 结论：…`."""

    text: str = Field(min_length=4, max_length=100, description="一句话结论，不超过60字")


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
