"""`yanbao mcp` started as a subprocess and called over stdio with the MCP SDK's own client: each tool
answers with the same JSON as the matching command, a bad call is a tool error (one line) and the
server goes on, and a missing extra is one line naming the pip install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

import anyio  # noqa: E402
from clikit import clean_env, yanbao_cmd  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

from pipeline.cli import app as cli  # noqa: E402

REPORT = (
    "# 算力简报\n\n"
    "微软在2025财年第四季度的资本开支达到242亿美元，主要投向人工智能数据中心。\n\n"
    "谷歌母公司把2025年全年资本开支指引上调到880亿美元，用于服务器和数据中心建设。\n"
)


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(yanbao_cmd(*args), cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120)


def call_server(cwd: Path, calls: list[tuple[str, dict]]) -> tuple[set[str], list]:
    """Start `yanbao mcp` in `cwd`, list its tools, make `calls` in order; (tool names, results)."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "pipeline.cli.app", "mcp"], env=clean_env(), cwd=str(cwd))

    async def main() -> tuple[set[str], list]:
        async with Client(params) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            results = [await client.call_tool(name, args, read_timeout_seconds=300) for name, args in calls]
            return names, results

    return anyio.run(main)


def text_of(result) -> str:
    (block,) = result.content
    return block.text


def test_check_and_search_answer_as_the_commands_do(corpus, tmp_path):
    (tmp_path / "report.md").write_text(REPORT, encoding="utf-8")
    db = tmp_path / "facts.db"
    assert command("facts", "import", str(corpus), "--facts", str(db), cwd=tmp_path).returncode == 0
    checked = command("check", "report.md", "--sources", str(corpus), "--facts", str(tmp_path / "fresh.db"), "--json", cwd=tmp_path)
    searched = command("facts", "search", "资本开支", "--facts", str(db), "--json", cwd=tmp_path)
    assert checked.returncode == 0 and searched.returncode == 0

    names, results = call_server(tmp_path, [
        ("check_numbers", {"report": REPORT, "sources_dir": str(corpus)}),
        ("check_numbers", {"report": REPORT, "sources": [{"title": "简讯", "text": "谷歌母公司把2025年全年资本开支指引上调到850亿美元。"}]}),
        ("check_numbers", {"report": REPORT}),  # nothing to check against: a tool error, the server goes on
        ("search_facts", {"query": "资本开支", "facts_db": str(db)}),
        ("search_facts", {"query": "850亿美元", "facts_db": str(db)}),
        ("search_facts", {"query": "资本开支", "facts_db": str(tmp_path / "missing.db")}),
    ])
    assert names == {"check_numbers", "search_facts", "write_report"}
    by_folder, by_text, nothing, by_word, by_value, no_db = results

    assert not by_folder.is_error and text_of(by_folder) == checked.stdout.rstrip("\n")
    assert json.loads(text_of(by_folder))["summary"] == {"verified": 1, "contradicted": 1, "unsupported": 0}
    from_text = json.loads(text_of(by_text))
    assert from_text["summary"] == {"verified": 0, "contradicted": 1, "unsupported": 1}
    assert from_text["claims"][1]["evidence"][0]["source"] == "简讯"
    assert nothing.is_error and "nothing to check against" in text_of(nothing) and "\n" not in text_of(nothing)

    assert not by_word.is_error and json.loads(text_of(by_word)) == json.loads(searched.stdout)[:20]
    hits = json.loads(text_of(by_value))
    assert hits and all(h["value"] == 850e8 for h in hits)
    assert no_db.is_error and "no facts store there" in text_of(no_db)
    assert not (tmp_path / "missing.db").exists()


def test_write_report_defaults_to_extractive_and_local(corpus, tmp_path):
    args = {"topic": "人工智能发展趋势", "sources": str(corpus), "out": str(tmp_path / "out"), "breadth": 1, "max_loops": 1}
    _, (written, bad) = call_server(tmp_path, [("write_report", args), ("write_report", {**args, "kind": "poem"})])
    assert not written.is_error, text_of(written)
    result = json.loads(text_of(written))
    report = Path(result["report"])
    assert report.is_file() and report.parent == tmp_path / "out" and report.suffix == ".md"
    assert result["files"][-1] == result["report"]
    manifest = json.loads(report.with_name(report.name[:-3] + ".run.json").read_text(encoding="utf-8"))
    assert result["provider"] == manifest["config"]["provider"] == "extractive"
    assert manifest["config"]["search_engine"] == "local"
    assert result["checks"] == manifest["checks"] and result["run_id"] == manifest["run_id"]
    assert result["covered"] is True
    assert result["summary"] and result["summary"] in report.read_text(encoding="utf-8").replace("\n\n", "\n")
    assert bad.is_error and "kind" in text_of(bad) and "\n" not in text_of(bad)


def test_missing_extra_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "pipeline.integrations.mcp_server", raising=False)  # imported afresh
    for name in ("mcp", "mcp.server", "mcp.server.mcpserver", "mcp.server.mcpserver.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(sys, "argv", ["yanbao", "mcp"])
    saved = sys.stderr
    try:
        with pytest.raises(SystemExit) as info:
            cli.main()
    finally:
        sys.stderr = saved
    err = capsys.readouterr().err
    assert info.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yanbao: ") and "pip install 'yanbao[mcp]'" in lines[0]
