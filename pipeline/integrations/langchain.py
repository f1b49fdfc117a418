"""yanbao's number check as a LangChain tool, for agents built on LangChain or LangGraph.

    from pipeline.integrations.langchain import check_numbers_tool, make_check_tool

`check_numbers_tool` takes the report text and what to check it against (source texts, a sources
folder, a facts DB) and returns, as its string result, exactly the JSON `yanbao check --json` prints
(see `pipeline.integrations.tools.check_numbers`). `make_check_tool(sources_dir=…, facts_db=…)` binds
the sources once, so the agent only passes the text it wants checked.

A call the tool cannot answer (an empty report, no sources, a missing DB) comes back to the agent as
the tool's error text (`handle_tool_error`), one line, instead of ending the agent's run.

Needs the extra: `pip install 'yanbao[langchain]'`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from pipeline.integrations.tools import SourceText, ToolInputError, check_numbers

try:
    from langchain_core.tools import BaseTool, StructuredTool, ToolException
except ImportError as exc:  # the extra is not installed: say how to get it, in one line
    raise ImportError(
        f"pipeline.integrations.langchain needs LangChain ({exc}): pip install 'yanbao[langchain]'"
    ) from exc

DESCRIPTION = (
    "核验一段中文报告或文章中的每个数字：逐一与给定来源（来源全文、资料文件夹或事实库）中的陈述比对，"
    "判定为 verified（已核实）、contradicted（存在出入，并给出来源的数值与原句）或 unsupported（未找到来源）。"
    "返回 JSON：{\"claims\": [{\"text\", \"start\", \"end\", \"value\", \"value_hi\", \"unit\", \"approx\", "
    "\"status\", \"evidence\": [{\"source\", \"quote\", \"value\"}]}], \"summary\": {\"verified\", "
    "\"contradicted\", \"unsupported\"}}；start/end 是数字在报告文本中的位置。发布含数字的文字之前调用它。"
)


class CheckNumbersArgs(BaseModel):
    """What the agent passes. Only `report` is required when the tool was made with bound sources."""

    report: str = Field(description="要核验的报告全文（Markdown 或纯文本）")
    sources: list[SourceText] = Field(default_factory=list, description="用来核验的来源全文列表")
    sources_dir: str | None = Field(None, description="本地资料文件夹路径（其中的 facts.yaml 也会载入）")
    facts_db: str | None = Field(None, description="yanbao 事实库（SQLite）路径")


def make_check_tool(
    *, sources_dir: str | Path | None = None, facts_db: str | Path | None = None, name: str = "check_numbers"
) -> BaseTool:
    """A `check_numbers` tool; `sources_dir` / `facts_db` are used when the agent gives none."""
    bound_dir = str(sources_dir) if sources_dir is not None else None
    bound_db = str(facts_db) if facts_db is not None else None

    def run(
        report: str,
        sources: list[SourceText] | None = None,
        sources_dir: str | None = None,
        facts_db: str | None = None,
    ) -> str:
        texts = list(sources or [])
        folder = sources_dir or (None if texts else bound_dir)
        db = facts_db or (None if texts or folder else bound_db)
        try:
            result = check_numbers(report, texts, sources_dir=folder, facts_db=db)
        except ToolInputError as exc:
            raise ToolException(str(exc)) from None
        return json.dumps(result, ensure_ascii=False)  # `yanbao check --json`'s line, less its newline

    return StructuredTool.from_function(
        func=run, name=name, description=DESCRIPTION, args_schema=CheckNumbersArgs, handle_tool_error=True
    )


#: The tool with nothing bound: the agent names the sources in every call.
check_numbers_tool: BaseTool = make_check_tool()
