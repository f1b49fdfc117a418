"""yanbao for other agents: the number check, the facts store and the report pipeline as tools.

`tools` holds the plain functions (standard library, pydantic and yanbao only); `langchain` wraps
them as LangChain tools (extra `yanbao[langchain]`), `mcp_server` serves them over MCP stdio
(`yanbao mcp`, extra `yanbao[mcp]`). Nothing here is imported by `yanbao --help`.
"""
