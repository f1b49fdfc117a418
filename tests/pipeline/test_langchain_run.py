"""`yanbao run … --llm langchain --search local` through the whole pipeline.

On LangChain's own fake chat model (tests/fake_langchain.py), run in process through `pipeline.cli.app.main`
with `init_chat_model` replaced by the fake (a subprocess could not be handed one): the report, every
call in the run store, the cache (a rerun sends nothing), a crash resumed with only the missing requests,
a malformed reply repaired or retried, the one-line set-up errors. And once for real, in a subprocess:
`langchain_model = "ollama:…"` builds LangChain's ChatOllama, which talks to the fake Ollama server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain")

from clikit import Result, assert_in_order, assert_one_line_error  # noqa: E402
from fake_langchain import ScriptedChatModel  # noqa: E402

from pipeline.cli import app as cli  # noqa: E402
from pipeline.llm import langchain_engine  # noqa: E402
from pipeline.run.store import RunStore  # noqa: E402

TOPIC = "人工智能发展趋势"
HEADINGS = [
    "# 主管架构研究报告", f"**研究主题**: {TOPIC}", "**LLM 提供商**: langchain", "**模型**: fake:analyst",
    "**搜索引擎**: local", "## 研究结果", "### 研究结果 1", "## 分析结果", "#### 1. 关键发现与洞察",
    "## 最终综合报告", "### 1. 执行摘要", "## 数据核验",
]


class Models:
    """The `init_chat_model` stand-in: builds a ScriptedChatModel per engine and keeps them all."""

    def __init__(self, tools: bool = True) -> None:
        self.tools = tools
        self.made: list[ScriptedChatModel] = []
        self.script: list = []

    def __call__(self, spec: str, **kwargs: object) -> ScriptedChatModel:
        model = ScriptedChatModel(model=spec, tools=self.tools, **kwargs)
        if kwargs:  # the probe instance (no kwargs) only tells the class
            model.script(*self.script)
            self.made.append(model)
        return model

    @property
    def last(self) -> ScriptedChatModel:
        return self.made[-1]


@pytest.fixture
def models(monkeypatch, tmp_path) -> Models:
    for var in list(os.environ):
        if var.startswith(("YANBAO_", "OLLAMA_")):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "yanbao.toml").write_text('[yanbao]\nlangchain_model = "fake:analyst"\n', encoding="utf-8")
    found = Models()
    monkeypatch.setattr(langchain_engine, "_init_chat_model", found)
    return found


def here(capsys, *args: str) -> Result:
    """`yanbao ARGS` in this process (so the fake chat model is the one LangChain uses)."""
    saved_argv, saved_err = sys.argv, sys.stderr
    sys.argv = ["yanbao", *args]
    try:
        with pytest.raises(SystemExit) as info:
            cli.main()
    finally:
        sys.argv, sys.stderr = saved_argv, saved_err
    out, err = capsys.readouterr()
    return Result(int(info.value.code or 0), out, err)


def run_args(corpus: Path, out: str = "out", *extra: str) -> list[str]:
    return ["run", TOPIC, "--llm", "langchain", "--search", "local", "--sources", str(corpus), "--out", out,
            "--breadth", "2", "--max-loops", "2", "--quiet", *extra]


def llm_calls(out: Path, run_id: str) -> list[dict]:
    return RunStore(out / "yanbao.db").calls(run_id, "llm")


def test_report_written_through_langchain_with_every_call_recorded(models, corpus, capsys, tmp_path):
    res = here(capsys, *run_args(corpus, "out", "--temperature", "0.5", "--seed", "7", "--num-predict", "900"))
    assert res.code == 0, res.stderr
    assert_in_order(res.text, HEADINGS)
    fake = models.last
    assert (fake.temperature, fake.seed, fake.max_tokens, fake.max_retries) == (0.5, 7, 900, 0)
    m = res.manifest
    assert m["config"]["provider"] == "langchain" and m["config"]["model"] == "fake:analyst"
    calls = llm_calls(tmp_path / "out", m["run_id"])
    assert m["llm"]["calls"] == len(fake.requests) == sum(c["requests"] for c in calls) > 10
    assert m["llm"]["tasks"] == len(calls) and {c["outcome"] for c in calls} == {"ok"}
    assert all(c["backend"] == "langchain" and c["prompt_tokens"] > 0 and c["completion_tokens"] > 0 for c in calls)
    assert m["llm"]["prompt_tokens"] == sum(c["prompt_tokens"] for c in calls)
    assert all(req["tools"] for req in fake.requests)  # structured output by tool calling, every slot


def test_rerun_sends_nothing_and_writes_the_same_report(models, corpus, capsys):
    first = here(capsys, *run_args(corpus))
    assert first.code == 0, first.stderr
    sent = len(models.last.requests)
    again = here(capsys, *run_args(corpus))
    assert again.code == 0, again.stderr
    assert len(models.last.requests) == 0 and again.manifest["llm"]["calls"] == 0
    assert again.manifest["llm"]["cache_hits"] == first.manifest["llm"]["tasks"] == sent
    body = first.text.split("## 数据核验")[0]
    assert again.text.split("## 数据核验")[0] == body


def test_crashed_run_resumes_with_only_the_missing_requests(models, corpus, capsys, tmp_path):
    base = here(capsys, *run_args(corpus, "base", "--concurrency", "1"))
    assert base.code == 0, base.stderr
    total = len(models.last.requests)

    crash_at = 6  # five answers, then the server is gone; no retry, so the run fails there
    models.script = [None] * (crash_at - 1) + [ConnectionError("Connection refused")]
    crashed = here(capsys, *run_args(corpus, "crash", "--concurrency", "1", "--max-retries", "0"))
    assert_one_line_error(crashed, 1, "fake:analyst", "connection refused")
    assert len(models.last.requests) == crash_at
    (row,) = RunStore(tmp_path / "crash" / "yanbao.db").list_runs()
    assert row["status"] == "failed"

    models.script = []
    resumed = here(capsys, "run", "--resume", row["id"], "--out", "crash", "--quiet")
    assert resumed.code == 0, resumed.stderr
    assert len(models.last.requests) == total - (crash_at - 1)  # only what the crash left unanswered
    # the failed request is recorded as an error row, without a request count (as for Ollama)
    assert resumed.manifest["resumed"] == {"earlier_llm_calls": crash_at - 1, "earlier_tasks": crash_at}
    assert resumed.text.split("## 数据核验")[0] == base.text.split("## 数据核验")[0]


def test_malformed_replies_are_repaired_or_retried_and_recorded(models, corpus, capsys, tmp_path):
    # the plan: a reply cut inside its JSON (repaired); the first query: not JSON at all (retried)
    models.script = ['{"subtopics": ["云厂商资本开支继续攀升", "数据中心电力成为新瓶颈"', "我认为应该搜索算力"]
    res = here(capsys, *run_args(corpus, "out", "--concurrency", "1"))  # one worker at a time: calls in order
    assert res.code == 0, res.stderr
    calls = llm_calls(tmp_path / "out", res.manifest["run_id"])
    plan, query = calls[0], calls[1]
    assert (plan["outcome"], plan["requests"]) == ("repaired", 1)
    assert (query["outcome"], query["requests"]) == ("repaired", 2)
    assert res.manifest["llm"]["repairs"] == 2
    retry = models.last.requests[2]["messages"]
    assert retry[-2]["content"] == "我认为应该搜索算力" and retry[-1]["content"].startswith("你上一次的回答无效")
    assert "云厂商资本开支继续攀升" in res.text


def test_a_model_without_tool_calling_is_asked_in_the_prompt(models, corpus, capsys):
    models.tools = False
    res = here(capsys, *run_args(corpus, "out", "--breadth", "1", "--max-loops", "1"))
    assert res.code == 0, res.stderr
    assert all(not req["tools"] for req in models.last.requests)
    assert all("JSON Schema" in req["messages"][-1]["content"] for req in models.last.requests)
    assert "## 最终综合报告" in res.text


def test_missing_extra_is_one_line_and_writes_nothing(models, corpus, capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "langchain", None)
    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)
    res = here(capsys, *run_args(corpus))
    assert_one_line_error(res, 2, "--llm langchain needs LangChain", "pip install 'yanbao[langchain]'")
    assert not list((tmp_path / "out").glob("*.md")) and not list((tmp_path / "out").glob("*.json"))


def test_missing_model_setting_is_one_line(models, corpus, capsys, tmp_path):
    (tmp_path / "yanbao.toml").write_text("[yanbao]\nbreadth = 2\n", encoding="utf-8")
    res = here(capsys, *run_args(corpus))
    assert_one_line_error(res, 2, "langchain_model", "YANBAO_LANGCHAIN_MODEL")
    assert not list((tmp_path / "out").glob("*.md"))


def test_real_integration_chat_ollama_against_the_fake_server(fake_ollama, corpus, yanbao, tmp_path):
    """init_chat_model("ollama:…") builds LangChain's ChatOllama; the fake Ollama sees our options."""
    pytest.importorskip("langchain_ollama")
    (tmp_path / "yanbao.toml").write_text('[yanbao]\nlangchain_model = "ollama:qwen2.5:7b"\n', encoding="utf-8")
    res = yanbao(
        "run", TOPIC, "--llm", "langchain", "--ollama-host", fake_ollama.url, "--search", "local", "--sources",
        str(corpus), "--out", "out", "--breadth", "1", "--max-loops", "1", "--num-ctx", "6000", "--quiet",
    )
    assert res.code == 0, res.stderr
    chats = [r for r in fake_ollama.requests if "messages" in r]
    assert chats and res.manifest["llm"]["calls"] == len(chats)
    for req in chats:
        assert req["options"]["num_ctx"] == 6000 and req["options"]["num_predict"] == 1024
        assert req["options"]["temperature"] == 0.3 and req["options"]["seed"] == 42
        assert isinstance(req["format"], dict)  # ChatOllama's structured output: the JSON schema
    assert res.manifest["llm"]["prompt_tokens"] > 0  # from usage_metadata (Ollama's prompt_eval_count)
    assert "**模型**: ollama:qwen2.5:7b" in res.text
