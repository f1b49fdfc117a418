"""`yanbao mcp`: registered by `pipeline/cli/app.py` at start-up, so only typer is imported here; the MCP
SDK and the pipeline load when the command runs (`yanbao --help` stays fast and free of them)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli import options as opt


def mcp(config: opt.Config = None) -> None:
    """Serve check_numbers, search_facts and write_report to an MCP client over stdio (for Claude Desktop,
    IDE agents and any MCP client: command `yanbao`, args `["mcp"]`). Needs `pip install 'yanbao[mcp]'`."""
    from pipeline.config import ConfigError, load_settings

    try:
        load_settings({}, config)  # a broken yanbao.toml is one line now, not an error in every tool call
    except ConfigError as exc:
        typer.echo(f"yanbao: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        from pipeline.integrations.mcp_server import serve
    except ImportError as exc:
        typer.echo(f"yanbao: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None
    serve(Path(config) if config is not None else None)
