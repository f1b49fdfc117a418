"""`yanbao run --llm openai` end to end: the CLI as a subprocess against the fake OpenAI-compatible server
(tests/fake_openai.py) and the fixture corpus. Recording, cache, every kind, the json_object fallback,
one-line errors (401, 404, 429, unreachable, slow), length cuts, and the API key never written anywhere."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from clikit import assert_in_order, assert_one_line_error
from fake_openai import FakeOpenAI, Length, RateLimit, Sleep

MODEL = "qwen2.5-7b-instruct"


def base_args(fake: FakeOpenAI, corpus: Path, *extra: str) -> list[str]:
    return [
        "run", "人工智能发展趋势", "--llm", "openai", "--base-url", fake.base_url, "--model", MODEL,
        "--search", "local", "--sources", str(corpus), "--out", "out", "--breadth", "2", "--max-loops", "2",
        "--quiet", *extra,
    ]


def llm_rows(out: Path) -> list[dict]:
    with sqlite3.connect(out / "yanbao.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM calls WHERE kind='llm' ORDER BY id")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_research_report_is_written_recorded_and_counted(fake_openai, corpus, yanbao, tmp_path):
    res = yanbao(*base_args(fake_openai, corpus))
    assert res.code == 0, res.stderr
    assert_in_order(res.text, [
        "**LLM 提供商**: openai", f"**模型**: {MODEL}", "## 研究结果", "### 研究结果 2", "## 分析结果",
        "#### 5. 实用建议", "## 最终综合报告", "### 4. 结论和建议", "## 数据核验",
    ])
    assert "（本节未能生成" not in res.text

    m = res.manifest
    assert m["config"]["provider"] == "openai" and m["config"]["model"] == MODEL
    assert m["config"]["base_url"] == fake_openai.base_url and m["config"]["api_key_env"] == "OPENAI_API_KEY"
    chats = fake_openai.requests
    assert m["llm"]["calls"] == len(chats) == m["llm"]["tasks"] > 0
    for req in chats:
        assert req["max_tokens"] == 1024 and req["temperature"] == 0.3 and req["seed"] == 42
        assert req["response_format"]["type"] == "json_schema" and req["stream"] is False
    # tokens are the server's `usage` (the fake counts characters), summed over the run
    assert m["llm"]["prompt_tokens"] == sum(sum(len(x["content"]) for x in r["messages"]) for r in chats)

    rows = llm_rows(tmp_path / "out")
    assert len(rows) == len(chats)
    for row in rows:
        assert row["backend"] == "openai" and row["outcome"] == "ok" and row["requests"] == 1
        assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0 and len(row["key"]) == 64


def test_warm_cache_sends_zero_requests_and_streaming_gives_the_same_report(fake_openai, corpus, yanbao):
    first = yanbao(*base_args(fake_openai, corpus))
    assert first.code == 0, first.stderr
    sent = len(fake_openai.requests)
    again = yanbao(*base_args(fake_openai, corpus))
    assert again.code == 0, again.stderr
    assert len(fake_openai.requests) == sent  # not one chat request
    assert again.manifest["llm"]["calls"] == 0 and again.manifest["llm"]["cache_hits"] == first.manifest["llm"]["tasks"]
    assert again.text == first.text
    streamed = yanbao(*base_args(fake_openai, corpus, "--stream", "--no-cache", "--overwrite"))
    assert streamed.code == 0, streamed.stderr
    assert all(r["stream"] is True for r in fake_openai.requests[sent:])
    assert len(fake_openai.requests) == 2 * sent
    assert streamed.text == first.text


def test_digest_and_commentary_go_through_the_same_engine(fake_openai, corpus, yanbao):
    common = ["--llm", "openai", "--base-url", fake_openai.base_url, "--model", MODEL, "--search", "local",
              "--sources", str(corpus), "--out", "out", "--quiet"]
    digest = yanbao("run", "出口管制", "--kind", "digest", *common)
    assert digest.code == 0, digest.stderr
    assert digest.manifest["config"]["provider"] == "openai"
    assert digest.manifest["llm"]["calls"] == len(fake_openai.requests) > 0
    before = len(fake_openai.requests)
    commentary = yanbao("run", "推理需求", "数据中心电力", "--kind", "commentary", *common)
    assert commentary.code == 0, commentary.stderr
    assert commentary.manifest["llm"]["calls"] == len(fake_openai.requests) - before > 0
    assert {a["status"] for a in commentary.manifest["articles"]} == {"done"}
    feed = yanbao("digest", "推理需求", *common)
    assert feed.code == 0, feed.stderr
    assert feed.manifest["config"]["provider"] == "openai"


def test_a_server_without_json_schema_costs_one_rejected_request_per_run(fake_openai, corpus, yanbao, tmp_path):
    fake_openai.json_schema = False
    res = yanbao(*base_args(fake_openai, corpus, "--breadth", "1", "--max-loops", "1"))
    assert res.code == 0, res.stderr
    m = res.manifest
    assert m["llm"]["calls"] == m["llm"]["tasks"] + 1 == len(fake_openai.requests)
    kinds = [r["response_format"]["type"] for r in fake_openai.requests]
    assert kinds.count("json_schema") == 1 and kinds[0] == "json_schema"
    noted = [r for r in llm_rows(tmp_path / "out") if "rejected response_format json_schema" in (r["detail"] or "")]
    assert len(noted) == 1 and noted[0]["requests"] == 2
    assert "（本节未能生成" not in res.text


def test_a_length_cut_reply_is_recorded_as_such(fake_openai, corpus, yanbao, tmp_path):
    fake_openai.script(Length())  # the plan's reply runs into max_tokens
    res = yanbao(*base_args(fake_openai, corpus, "--breadth", "1", "--max-loops", "1"))
    assert res.code == 0, res.stderr
    [plan] = [r for r in llm_rows(tmp_path / "out") if r["step"] == "supervisor.plan"]
    assert "reply cut at max_tokens=1024" in plan["detail"]


# ---------------------------------------------------------------------------------------------
# One-line errors: exit 1, nothing written
# ---------------------------------------------------------------------------------------------


def assert_failed_cleanly(res, tmp_path: Path, *needles: str) -> None:
    assert_one_line_error(res, 1, *needles)
    assert not list((tmp_path / "out").glob("*.md"))


def test_401_without_a_key_names_the_variable(fake_openai, corpus, yanbao, tmp_path):
    fake_openai.api_key = "sk-required"
    res = yanbao(*base_args(fake_openai, corpus))
    assert_failed_cleanly(res, tmp_path, "HTTP 401", "$OPENAI_API_KEY is not set", fake_openai.base_url)
    assert fake_openai.requests == []  # found out before the run started


def test_401_mid_run_names_the_step(fake_openai, corpus, yanbao, tmp_path):
    def responder(request):
        fake_openai.api_key = "sk-rotated"  # the key is revoked after /models answered
        return None

    fake_openai.responder = responder
    res = yanbao(*base_args(fake_openai, corpus, "--breadth", "1", "--max-loops", "1"),
                 env={"OPENAI_API_KEY": "sk-first"})
    assert_failed_cleanly(res, tmp_path, "refused the API key in $OPENAI_API_KEY (HTTP 401)")
    assert "sk-first" not in res.stderr


def test_404_model(fake_openai, corpus, yanbao, tmp_path):
    args = base_args(fake_openai, corpus)
    args[args.index(MODEL)] = "llama9-70b"
    res = yanbao(*args)
    assert_failed_cleanly(res, tmp_path, "model 'llama9-70b' is not served at", f"it serves: {MODEL}")


def test_429_backs_off_then_fails_with_one_line(fake_openai, corpus, yanbao, tmp_path):
    fake_openai.script(*[RateLimit(retry_after="0")] * 3)
    res = yanbao(*base_args(fake_openai, corpus, "--max-retries", "2"))
    assert_failed_cleanly(res, tmp_path, "supervisor.plan", "rate limiting (HTTP 429) after 3 attempts")
    assert len(fake_openai.requests) == 3


def test_429_then_success_finishes_the_run(fake_openai, corpus, yanbao):
    fake_openai.script(RateLimit(retry_after="0"), RateLimit(retry_after="0"))
    res = yanbao(*base_args(fake_openai, corpus, "--breadth", "1", "--max-loops", "1", "--max-retries", "2"))
    assert res.code == 0, res.stderr
    assert res.manifest["llm"]["calls"] == res.manifest["llm"]["tasks"] + 2


def test_unreachable_server(corpus, yanbao, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    res = yanbao("run", "人工智能发展趋势", "--llm", "openai", "--base-url", url, "--search", "local",
                 "--sources", str(corpus), "--out", "out")
    assert_failed_cleanly(res, tmp_path, f"cannot reach the OpenAI-compatible server at {url}: connection refused")


def test_slow_replies_time_out_with_one_line(fake_openai, corpus, yanbao, tmp_path):
    fake_openai.script(Sleep(5), Sleep(5), Sleep(5))
    (tmp_path / "yanbao.toml").write_text("timeout_s = 0.5\n", encoding="utf-8")
    res = yanbao(*base_args(fake_openai, corpus, "--max-retries", "2"))
    assert_failed_cleanly(res, tmp_path, "supervisor.plan", "failed after 3 attempts", "Timeout")


# ---------------------------------------------------------------------------------------------
# Settings and the key
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('base_url = "http://user:sk-hidden-1@127.0.0.1:8000/v1"', "must not hold credentials"),
        ('base_url = "http://127.0.0.1:8000/v1?api_key=sk-hidden-1"', "no query string"),
        ('api_key_env = "sk-hidden-1"', "names an environment variable"),
    ],
)
def test_a_key_in_the_settings_is_refused_without_echoing_it(yanbao, tmp_path, line, needle):
    (tmp_path / "yanbao.toml").write_text(f'[yanbao]\nllm = "openai"\n{line}\n', encoding="utf-8")
    for args in (("config", "show"), ("run", "人工智能发展趋势", "--out", "out")):
        res = yanbao(*args)
        assert_one_line_error(res, 2, needle)
        assert "sk-hidden-1" not in res.stderr + res.stdout


def test_the_key_is_never_written_anywhere(corpus, yanbao, tmp_path):
    """A planted key: used on the wire (the fake demands it) but absent from yanbao.toml, `config show`,
    progress lines, run.json, the report, the run store and every other file of the output folder;
    a rejected key is not quoted either, although the server's 401 body echoes it."""
    good, wrong = "sk-planted-GOOD-5f3a9c1e7d", "sk-planted-WRONG-88b2e4a0c6"
    with FakeOpenAI(models=[MODEL], api_key=good) as fake:
        (tmp_path / "yanbao.toml").write_text(
            f'[yanbao]\nllm = "openai"\nbase_url = "{fake.base_url}"\nmodel = "{MODEL}"\n'
            'api_key_env = "TEAM_LLM_KEY"\nsearch = "local"\nbreadth = 1\nmax_loops = 1\n',
            encoding="utf-8",
        )
        env = {"TEAM_LLM_KEY": good}
        seen = [yanbao("config", "show", env=env), yanbao("config", "show", "--json", env=env)]
        shown = json.loads(seen[1].stdout)
        assert shown["api_key_env"] == {"value": "TEAM_LLM_KEY", "from": "yanbao.toml"}
        run = yanbao("run", "人工智能发展趋势", "--sources", str(corpus), "--out", "out", env=env)  # progress on stderr
        assert run.code == 0, run.stderr
        assert fake.auth_headers and set(fake.auth_headers) == {f"Bearer {good}"}
        seen += [run, yanbao("runs", "list", "--out", "out", env=env)]
        rejected = yanbao("run", "人工智能发展趋势", "--sources", str(corpus), "--out", "out", "--no-cache", "--quiet",
                          env={"TEAM_LLM_KEY": wrong})
        assert_one_line_error(rejected, 1, "$TEAM_LLM_KEY", "HTTP 401")
        seen.append(rejected)
    assert run.manifest["config"]["api_key_env"] == "TEAM_LLM_KEY"
    for res in seen:
        for key in (good, wrong):
            assert key not in res.stdout and key not in res.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "yanbao.db" for p in files) and any(p.name.endswith(".run.json") for p in files)
    for path in files:
        data = path.read_bytes()
        for key in (good, wrong):
            assert key.encode() not in data, f"{key} in {path}"
            assert key.encode("utf-16-le") not in data, f"{key} in {path}"
