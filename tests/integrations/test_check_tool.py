"""The number check as a LangChain tool (pipeline.integrations.langchain): exactly `yanbao check
--json`'s JSON, from a sources folder, from source texts, from a facts DB (never changed), errors
handed back to the agent as one line, and the tool called by an agent loop on LangChain's fake model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")

from clikit import clean_env, yanbao_cmd  # noqa: E402
from fake_langchain import ScriptedChatModel  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402

from pipeline.integrations.langchain import check_numbers_tool, make_check_tool  # noqa: E402

# One figure the corpus states (242亿美元), one it contradicts (850 → 880亿美元), one it does not hold.
REPORT = (
    "# 算力简报\n\n"
    "微软在2025财年第四季度的资本开支达到242亿美元，主要投向人工智能数据中心。\n\n"
    "谷歌母公司把2025年全年资本开支指引上调到880亿美元，用于服务器和数据中心建设。\n\n"
    "某芯片公司今年的出货量为3700万片。\n"
)


def yanbao_check(report: Path, *args: str, cwd: Path) -> dict:
    proc = subprocess.run(yanbao_cmd("check", str(report), "--json", *args), cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.md"
    path.write_text(REPORT, encoding="utf-8")
    return path


def test_sources_folder_gives_exactly_yanbao_check_json(corpus, report_file, tmp_path):
    expected = yanbao_check(report_file, "--sources", str(corpus), "--facts", str(tmp_path / "fresh.db"), cwd=tmp_path)
    out = check_numbers_tool.invoke({"report": REPORT, "sources_dir": str(corpus)})
    assert json.loads(out) == expected
    assert expected["summary"] == {"verified": 1, "contradicted": 1, "unsupported": 1}
    for claim in expected["claims"]:
        assert REPORT[claim["start"]:claim["end"]] == claim["text"]


def test_facts_db_is_read_and_left_unchanged(corpus, report_file, tmp_path):
    db = tmp_path / "facts.db"
    proc = subprocess.run(yanbao_cmd("facts", "import", str(corpus), "--facts", str(db)), cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = yanbao_check(report_file, "--facts", str(db), cwd=tmp_path)
    before = db.read_bytes()
    assert json.loads(check_numbers_tool.invoke({"report": REPORT, "facts_db": str(db)})) == expected
    # with a source text as well: the text is checked too, into a copy, and the DB stays as it was
    extra = {"title": "芯片出货", "text": "某芯片公司今年的出货量为3700万片，同比增长两成。"}
    both = json.loads(check_numbers_tool.invoke({"report": REPORT, "facts_db": str(db), "sources": [extra]}))
    assert both["summary"] == {"verified": 2, "contradicted": 1, "unsupported": 0}
    assert db.read_bytes() == before


def test_source_texts_are_checked_like_imported_documents(corpus, report_file, tmp_path):
    texts = []
    for doc in sorted(corpus.glob("*.md")):
        body = doc.read_text(encoding="utf-8").split("---", 2)[2]
        title = next(line[7:] for line in doc.read_text(encoding="utf-8").splitlines() if line.startswith("title: "))
        texts.append({"title": title, "text": body})
    result = json.loads(check_numbers_tool.invoke({"report": REPORT, "sources": texts}))
    assert result["summary"] == {"verified": 1, "contradicted": 1, "unsupported": 1}
    contradicted = next(c for c in result["claims"] if c["status"] == "contradicted")
    assert contradicted["text"] == "880亿美元" and contradicted["evidence"][0]["source"] == "云厂商资本开支继续攀升"
    assert contradicted["evidence"][0]["value"] == 850e8


def test_bound_sources_and_errors_as_one_line(corpus, tmp_path):
    bound = make_check_tool(sources_dir=corpus)
    assert json.loads(bound.invoke({"report": REPORT}))["summary"]["verified"] == 1
    assert check_numbers_tool.invoke({"report": "  "}) == "the report is empty: there is nothing to check"
    assert "nothing to check against" in check_numbers_tool.invoke({"report": REPORT})
    missing = check_numbers_tool.invoke({"report": REPORT, "facts_db": str(tmp_path / "none.db")})
    assert "no facts store there" in missing and "\n" not in missing
    assert not (tmp_path / "none.db").exists()


def test_an_agent_calls_the_tool_and_reads_its_json(corpus):
    """The README's agent snippet, on LangChain's fake chat model: the model asks for the tool, the
    agent runs it, the model's next turn sees the check's JSON."""
    agents = pytest.importorskip("langchain.agents")
    model = ScriptedChatModel(tools=True)
    model.script(
        AIMessage(content="", tool_calls=[{"name": "check_numbers", "args": {"report": REPORT}, "id": "call_1"}]),
        AIMessage(content="核验完成：1 处已核实，1 处存在出入，1 处未找到来源。"),
    )
    agent = agents.create_agent(model, tools=[make_check_tool(sources_dir=corpus)])
    state = agent.invoke({"messages": [{"role": "user", "content": "请核验这段文字里的数字。"}]})
    tool_messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert len(tool_messages) == 1
    assert json.loads(tool_messages[0].content)["summary"] == {"verified": 1, "contradicted": 1, "unsupported": 1}
    assert state["messages"][-1].content.startswith("核验完成")
    # the model's second turn was sent the tool's result
    assert any(m["role"] == "tool" for m in model.requests[1]["messages"])
