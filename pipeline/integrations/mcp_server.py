"""`yanbao mcp`: yanbao's tools for any MCP client (Claude Desktop, IDE agents, LangGraph's MCP
adapters …), over stdio, with the official MCP Python SDK (2.x, `MCPServer`).

Tools (each returns one JSON text, the same JSON as the matching command):

* `check_numbers(report, sources?, sources_dir?, facts_db?)` → `yanbao check --json`'s object;
* `search_facts(query, facts_db?, limit?)` → `yanbao facts search QUERY --json`'s list (the store
  is `<out>/facts.db` of the settings, `outputs/facts.db` by default, as for `yanbao facts`);
* `write_report(topic, kind?, llm?, search?, sources?, out?, breadth?, max_loops?, model?,
  langchain_model?)` → the report's path, its files, run id, facts-check summary, degraded steps,
  coverage and 执行摘要. It defaults to the extractive engine and the local corpus, so it works with
  no model and no network; other settings come from yanbao.toml / YANBAO_* as for `yanbao run`.

A call that cannot be answered comes back as a tool error (`is_error`) with one line naming why; the
server goes on. The work runs in worker threads, so a long report does not stop the server from
answering other calls. stdout belongs to the protocol: the SDK moves anything else printed to stderr.

Needs the extra: `pip install 'yanbao[mcp]'`.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated

from pydantic import Field

from pipeline import __version__
from pipeline.integrations.tools import (
    ReportSettings,
    SourceText,
    ToolInputError,
    check_numbers,
    search_facts,
    write_report,
)

try:
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as exc:  # the extra is not installed: say how to get it, in one line
    raise ImportError(f"yanbao mcp needs the MCP SDK ({exc}): pip install 'yanbao[mcp]'") from exc

INSTRUCTIONS = (
    "yanbao（研报）为中文研究报告服务：check_numbers 逐一核验文字中的数字是否有来源支持；"
    "search_facts 在事实库中查找数字与原句；write_report 按主题写一篇报告（默认抽取式引擎与本地语料，无需模型与网络），"
    "报告中的每个数字都已核验。"
)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def build_server(config: Path | None = None) -> MCPServer:
    """The server with its three tools; `config` is the settings file (`yanbao mcp --config FILE`)."""
    server = MCPServer(name="yanbao", version=__version__, instructions=INSTRUCTIONS)

    async def call(fn: partial[str]) -> str:
        try:
            return await anyio.to_thread.run_sync(fn)
        except ToolInputError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(
        name="check_numbers",
        description="核验报告中的每个数字（与 `yanbao check --json` 输出相同的 JSON）：给出来源全文、资料文件夹或事实库之一。",
        structured_output=False,
    )
    async def check_numbers_tool(
        report: Annotated[str, Field(description="要核验的报告全文（Markdown 或纯文本）")],
        sources: Annotated[list[SourceText] | None, Field(description="用来核验的来源全文")] = None,
        sources_dir: Annotated[str | None, Field(description="本地资料文件夹路径")] = None,
        facts_db: Annotated[str | None, Field(description="yanbao 事实库（SQLite）路径")] = None,
    ) -> str:
        return await call(partial(_check, report, sources or [], sources_dir, facts_db))

    @server.tool(
        name="search_facts",
        description="在 yanbao 事实库中查找数字：词语（甲骨文、RPO）按原句与来源匹配，数量（4550亿美元）按数值匹配。",
        structured_output=False,
    )
    async def search_facts_tool(
        query: Annotated[str, Field(description="词语或数量")],
        facts_db: Annotated[str | None, Field(description="事实库路径（默认为设置中 out 目录下的 facts.db）")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="最多返回条数")] = 20,
    ) -> str:
        return await call(partial(_search, query, facts_db, limit, config))

    @server.tool(
        name="write_report",
        description="按主题写一篇中文报告并返回 Markdown 路径与摘要；默认抽取式引擎与本地语料（无需模型与网络）。",
        structured_output=False,
    )
    async def write_report_tool(
        topic: Annotated[str, Field(description="报告主题，如 人工智能发展趋势")],
        kind: Annotated[str, Field(description="research | digest | commentary")] = "research",
        llm: Annotated[str, Field(description="extractive | ollama | langchain | auto")] = "extractive",
        search: Annotated[str, Field(description="local | duckduckgo | auto")] = "local",
        sources: Annotated[str | None, Field(description="本地资料文件夹")] = None,
        out: Annotated[str | None, Field(description="输出文件夹")] = None,
        breadth: Annotated[int | None, Field(ge=1, le=10, description="子主题数量上限")] = None,
        max_loops: Annotated[int | None, Field(ge=1, le=10, description="每个子主题的检索轮数")] = None,
        model: Annotated[str | None, Field(description="--llm ollama 的模型")] = None,
        langchain_model: Annotated[str | None, Field(description="--llm langchain 的 provider:model")] = None,
    ) -> str:
        settings = ReportSettings(
            kind=kind, llm=llm, search=search, sources=sources, out=out, breadth=breadth, max_loops=max_loops,
            model=model, langchain_model=langchain_model,
        )
        return await call(partial(_write, topic, settings, config))

    return server


def _check(report: str, sources: list[SourceText], sources_dir: str | None, facts_db: str | None) -> str:
    return _dumps(check_numbers(report, sources, sources_dir=sources_dir, facts_db=facts_db))


def _search(query: str, facts_db: str | None, limit: int, config: Path | None) -> str:
    if facts_db is None:
        from pipeline.config import ConfigError, load_settings

        try:
            facts_db = str(load_settings({}, config)[0].facts_path)
        except ConfigError as exc:
            raise ToolInputError(str(exc)) from None
    return _dumps(search_facts(query, facts_db=facts_db, limit=limit))


def _write(topic: str, settings: ReportSettings, config: Path | None) -> str:
    return _dumps(write_report(topic, settings, config=config))


def serve(config: Path | None = None) -> None:
    """Serve over stdio until the client closes the connection."""
    build_server(config).run("stdio")
